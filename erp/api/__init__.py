"""REST API plumbing shared by every app's endpoints."""
