"""Reporting: consumes every node's events into hub-wide accountability and funding views."""
