"""The returns workflow: policies, return cases (RMA), risk screening, customer service."""
