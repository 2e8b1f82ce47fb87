"""The ways in: the REST API for business systems (and, later, the officer's sender)."""
