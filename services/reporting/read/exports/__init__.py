"""Exports of reporting data in open standards."""
