"""Reporting views per context: queries and their HTTP routes."""
