import pytest
from fastapi.testclient import TestClient

from support.api import api_app, migrated_api_engine, new_api_key_headers


@pytest.fixture(scope="module")
def api_engine(tmp_path_factory):
    engine = migrated_api_engine(tmp_path_factory.mktemp("api") / "utskick.db")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app(api_engine, tmp_path_factory):
    return api_app(api_engine, tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def new_system(api_engine):
    """Create a sending system with a key; returns the headers that authenticate as it."""

    def create(sender_numbers=None, departments=None):
        if sender_numbers is None:
            return new_api_key_headers(api_engine, departments=departments)
        return new_api_key_headers(api_engine, sender_numbers, departments)

    return create
