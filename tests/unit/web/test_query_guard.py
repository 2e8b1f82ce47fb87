"""A query parameter named twice has no single meaning: the API refuses it (422) instead of
guessing, and the rest of the site is left alone."""

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from utskick.web.query_guard import SingleQueryValues, repeated_parameter


@pytest.mark.parametrize(
    ("query", "repeated"),
    [
        (b"", None),
        (b"reference=A&state=paper", None),
        (b"reference=A&reference=B", "reference"),
        (b"reference=A&reference=A", "reference"),
        (b"limit=1&state=&state=paper&limit=2", "state"),
        (b"re%66erence=A&reference=B", "reference"),
        (b"reference=A;reference=B", None),  # `;` separates nothing: one value, "A;reference=B"
    ],
)
def test_the_first_parameter_named_again_is_found(query, repeated):
    assert repeated_parameter(query) == repeated


def echo(request):
    return PlainTextResponse(request.url.query)


@pytest.fixture
def client():
    app = Starlette(routes=[Route("/api/v1/letters", echo), Route("/brev", echo)])
    return TestClient(SingleQueryValues(app, prefix="/api/v1"))


def test_the_api_refuses_a_repeated_parameter_naming_it_in_swedish(client):
    answer = client.get("/api/v1/letters?state=paper&reference=A&reference=B")

    assert answer.status_code == 422
    message = "parametern anges flera gånger; ange reference en gång"
    assert answer.json() == {
        "detail": f"felaktig indata — reference: {message}",
        "errors": [{"field": "reference", "message": message}],
    }


def test_a_query_with_each_parameter_once_reaches_the_api(client):
    answer = client.get("/api/v1/letters?state=paper&reference=A")

    assert (answer.status_code, answer.text) == (200, "state=paper&reference=A")


def test_paths_outside_the_api_are_not_judged(client):
    assert client.get("/brev?id=1&id=2").status_code == 200
