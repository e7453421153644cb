"""The stock ledger: movements, balances, serialized units, channel availability, reconciliation."""
