"""schemathesis against the app's own OpenAPI description: no input may cause a server error,
and every answer must match what the description promises.

schemathesis loads the schema when the module is imported, so the app and its database are
built here (one per xdist worker) rather than in fixtures.
"""

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from support.api import api_app, migrated_api_engine, new_api_key_headers

_HOME = Path(tempfile.mkdtemp(prefix="utskick-fuzz-"))
_ENGINE = migrated_api_engine(_HOME / "utskick.db")
_APP = api_app(_ENGINE, _HOME)
_HEADERS = new_api_key_headers(_ENGINE)

schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)
# Every request carries a real key (`_HEADERS`). Left on, schemathesis would also generate
# malformed Authorization headers that the real key then replaces, and judge the answer to a
# request that was never sent.
schema.config.generation.update(with_security_parameters=False)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_context, value):
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.fixture(scope="module", autouse=True)
def _remove_the_database():
    yield
    _ENGINE.dispose()
    shutil.rmtree(_HOME, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    # Health checks judge the generator's speed and data sizes, not the API: on a busy CI
    # machine they fail for reasons that say nothing about the app.
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_generated_request_as_documented(case):
    # Schema-valid is not enough to be accepted: a personnummer's check digit, a PDF's magic
    # bytes or a sender's scope cannot be said in JSON Schema, so a 422 for such data is right.
    case.call_and_validate(
        headers=_HEADERS, excluded_checks=[schemathesis.checks.positive_data_acceptance]
    )
