"""A running reference infrastructure and a connector pointed at it (one per test worker)."""

import pytest
from sqlalchemy import text

from support.connector_world import connector_settings, prepare_connector, start_reference


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """(reference context, connector settings, engine, sending system id)."""
    context, infrastructure = start_reference(tmp_path_factory.mktemp("reference"))
    home = tmp_path_factory.mktemp("connector")
    settings = connector_settings(
        home,
        context,
        retry_base_seconds=0.01,
        retry_max_seconds=0.02,
        operator_read_timeout_seconds=10,
    )
    engine, system_id = prepare_connector(settings, context)
    yield context, settings, engine, system_id
    engine.dispose()
    infrastructure.stop()


@pytest.fixture
def clean_jobs(world):
    """No jobs left over from another test (letters stay: each test makes its own)."""
    _, _, engine, _ = world
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM job"))
    yield
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM job"))
