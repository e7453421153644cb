"""Webhook endpoints: verify the signature, store the delivery in the inbox, answer fast."""
