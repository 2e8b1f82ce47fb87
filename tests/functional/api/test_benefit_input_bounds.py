"""Absurd numbers on the benefit calculator (`/nytta` and `/api/v1/nytta`) answer 422 in
Swedish naming the input, never 500 and never a hang; generated input shows no 500 either."""

import json
import math

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from utskick.benefit.model import INPUT_NAMES

ABSURD = [
    pytest.param("1e309", id="beyond-float"),
    pytest.param("1e999999999", id="exponent-of-a-billion"),
    pytest.param("9" * 5000, id="5000-digits"),
    pytest.param("1e20", id="huge"),
    pytest.param("-1", id="negative"),
    pytest.param("NaN", id="nan"),
    pytest.param("inf", id="inf"),
    pytest.param("-Infinity", id="minus-infinity"),
    pytest.param("många", id="not-a-number"),
    pytest.param("0x10", id="hexadecimal"),
]
INPUTS = ["inhabitants", "paper_cost", "investment", "minutes_saved", "usage_last", "years"]


@pytest.fixture(scope="module")
def quiet_client(app):
    """A client that shows a server error as the 500 a caller would get."""
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("text", ABSURD)
@pytest.mark.parametrize("name", INPUTS)
def test_an_absurd_value_is_422_on_the_api_naming_the_input(quiet_client, name, text):
    answer = quiet_client.get("/api/v1/nytta", params={name: text})
    assert answer.status_code == 422, answer.text
    error = answer.json()["errors"][0]
    assert error["field"] == name
    assert "måste vara" in error["message"]


@pytest.mark.parametrize("text", ABSURD)
def test_an_absurd_value_is_422_on_the_page_with_the_error_by_the_field(quiet_client, text):
    page = quiet_client.get("/nytta", params={"inhabitants": text})
    assert page.status_code == 422
    assert "invånare (inhabitants) måste vara ett heltal mellan 0 och 100 000 000" in page.text


@pytest.mark.parametrize(
    "literal",
    ["1e309", "-1e309", "NaN", "Infinity", "-Infinity", "9" * 5000, "1" + "0" * 400],
)
def test_an_absurd_json_number_is_422_naming_the_input(quiet_client, literal):
    answer = quiet_client.post(
        "/api/v1/nytta",
        content=f'{{"investment": {literal}}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "investment"


def test_the_largest_allowed_plan_still_computes(quiet_client):
    answer = quiet_client.post(
        "/api/v1/nytta",
        json={
            "inhabitants": 100_000_000,
            "mailings_per_inhabitant": 1000,
            "investment": 1_000_000_000_000,
            "paper_cost": 100_000,
            "years": 50,
        },
    )
    assert answer.status_code == 200
    totals = answer.json()["views"]["mailing_cost"]["totals"]
    assert all(value is None or math.isfinite(value) for value in totals.values())


_JSON_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.text(max_size=30),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(INPUT_NAMES), _JSON_VALUES, max_size=5))
def test_no_json_body_makes_the_calculator_fail(quiet_client, body):
    answer = quiet_client.post(
        "/api/v1/nytta",
        content=json.dumps(body).encode(),  # NaN and Infinity as Python writes them
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code in (200, 422), answer.text
    if answer.status_code == 422:
        assert answer.json()["errors"], answer.text


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(INPUT_NAMES), st.text(max_size=60), max_size=4))
def test_no_query_makes_the_calculator_fail(quiet_client, query):
    answer = quiet_client.get("/api/v1/nytta", params=query)
    assert answer.status_code in (200, 422), answer.text
