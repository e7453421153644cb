"""Refunds and their approvals, payment adapters, chart of accounts, journal, periods."""
