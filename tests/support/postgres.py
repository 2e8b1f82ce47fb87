"""A PostgreSQL schema of a test's own, named in its URL so that `utskick` processes share it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from utskick.db.engine import normalise_url

POSTGRES_URL = os.environ.get(
    "UTSKICK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@contextmanager
def postgres_schema_url(prefix: str) -> Iterator[str]:
    """The URL of a new schema (dropped afterwards); skip, or fail in CI, without PostgreSQL."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(normalise_url(POSTGRES_URL))
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # noqa: BLE001 (any failure means PostgreSQL is not there)
        if os.environ.get("UTSKICK_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error}")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(error).__name__})")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
