"""Input the API cannot use answers in Swedish and names the field, whatever is wrong with it:
broken JSON, wrong types, missing fields, bytes that are not UTF-8, absurd nesting."""

import re

import pytest

from support.api import letter_json

# Phrases of the frameworks' own English answers, which must never reach a caller.
ENGLISH = re.compile(
    r"Field required|Input should|There was an error|Expecting|JSON decode|value is not|"
    r"Unprocessable|Extra inputs",
    re.IGNORECASE,
)


def _post(client, body, headers):
    return client.post(
        "/api/v1/letters", content=body, headers=headers | {"Content-Type": "application/json"}
    )


@pytest.mark.parametrize(
    ("body", "status", "field", "phrase"),
    [
        pytest.param(b'{"sender": "2021004748",', 422, None, "inte giltig JSON", id="cut-off"),
        pytest.param(b"{'sender': 1}", 422, None, "citattecken", id="single-quotes"),
        pytest.param(b'{"sender": "\xff\xfe"}', 400, None, "UTF-8", id="not-utf-8"),
        pytest.param(b"[" * 100_000, 400, None, "för djupt nästlad", id="nested-too-deep"),
        pytest.param(
            b'{"sender": "2021004748", "recipient": "191212121212", "subject": "x", '
            b'"body": "y", "protection_class": ' + b"9" * 5000 + b"}",
            400,
            None,
            "kan inte läsas",
            id="number-of-5000-digits",
        ),
        pytest.param(b"", 422, None, "saknar innehåll", id="empty"),
        pytest.param(b"[]", 422, None, "JSON-objekt", id="a-list"),
        pytest.param(b'{"sender": 2021004748}', 422, "sender", "ska vara text", id="number"),
        pytest.param(b'{"recipient": "1"}', 422, "sender", "saknas", id="missing-field"),
    ],
)
def test_a_body_that_cannot_be_used_answers_in_swedish(
    client, new_system, body, status, field, phrase
):
    answer = _post(client, body, new_system())
    assert answer.status_code == status, answer.text
    assert phrase in answer.text
    assert not ENGLISH.search(answer.text), answer.text
    errors = answer.json()["errors"]
    if field is not None:
        assert field in [error["field"] for error in errors]


@pytest.mark.parametrize(
    ("changes", "field", "phrase"),
    [
        pytest.param({"protection_class": "två"}, "protection_class", "heltal", id="text-for-int"),
        pytest.param({"protection_class": 2.5}, "protection_class", "heltal", id="fraction"),
        pytest.param({"policy": "brevduva"}, "policy", "ska vara en av", id="unknown-choice"),
        pytest.param({"färg": "blå"}, "färg", "inget känt fält", id="unknown-field"),
        pytest.param({"attachments": {"a": 1}}, "attachments", "lista", id="object-for-list"),
        pytest.param({"address": "Gatan 1"}, "address", "JSON-objekt", id="text-for-object"),
    ],
)
def test_wrong_types_name_the_field_in_swedish(client, new_system, changes, field, phrase):
    answer = client.post("/api/v1/letters", json=letter_json(**changes), headers=new_system())
    assert answer.status_code == 422
    assert {"field": field}.items() <= answer.json()["errors"][0].items()
    assert phrase in answer.json()["errors"][0]["message"]
    assert not ENGLISH.search(answer.text), answer.text


def test_a_nan_where_an_integer_belongs_is_refused_in_swedish(client, new_system):
    body = (
        b'{"sender": "2021004748", "recipient": "191212121212", "subject": "x", "body": "y", '
        b'"protection_class": NaN}'
    )
    answer = _post(client, body, new_system())
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "protection_class"
    assert not ENGLISH.search(answer.text), answer.text


def test_a_query_parameter_of_the_wrong_type_answers_in_swedish(client, new_system):
    answer = client.get("/api/v1/letters", params={"limit": "många"}, headers=new_system())
    assert answer.status_code == 422
    assert answer.json()["errors"] == [{"field": "limit", "message": "ska vara ett heltal"}]
