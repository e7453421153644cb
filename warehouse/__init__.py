"""Physical work on returned goods: receipts, inspections, dispositions, put-away."""
