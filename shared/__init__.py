"""Contracts and plumbing shared by every Hub Ledger service; services import only this package."""
