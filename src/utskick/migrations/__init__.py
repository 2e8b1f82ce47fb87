"""Alembic's environment and versions; `migrate` runs them from code."""
