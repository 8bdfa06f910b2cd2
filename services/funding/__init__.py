"""Funding: each node's ledger of income, allocations and spend,
every flow linked to its sources."""
