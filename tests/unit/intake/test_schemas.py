"""The REST API's request bodies: what a letter, an attachment, an address and a precheck may
hold, and what they are when left out. Unknown fields are refused, not ignored, so that a
misspelt field never silently falls back to a default. A letter body becomes the letter
service's input with its attachments decoded."""

import base64

import pytest
from pydantic import ValidationError

from utskick.intake.schemas import AddressIn, AttachmentIn, LetterIn, PrecheckIn, letter_input
from utskick.letters.inputs import AttachmentInput, LetterRejectedError

LETTER = {
    "sender": "202100-4748",
    "recipient": "19121212-1212",
    "subject": "Beslut om bygglov",
}
ATTACHMENT = {"filename": "beslut.pdf", "content_base64": "JVBERi0xLjQK"}
ADDRESS = {"name": "David Dahl", "lines": ["Dalvägen 7"], "postal_code": "123 48", "city": "Ort"}


def refusal(model, data):
    """The (location, type) of each error the model finds in `data`."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    return [(error["loc"], error["type"]) for error in refused.value.errors()]


def test_a_letter_left_to_its_defaults_is_plain_text_digital_or_paper_without_attachments():
    letter = LetterIn.model_validate(LETTER)

    assert (letter.body, letter.body_type, letter.policy) == ("", "text/plain", "digital-or-paper")
    assert letter.attachments == []
    assert (letter.protection_class, letter.idempotency_key, letter.address) == (None, None, None)


@pytest.mark.parametrize(
    "example",
    [*LetterIn.model_json_schema()["examples"], *PrecheckIn.model_json_schema()["examples"]],
)
def test_the_examples_the_description_shows_are_valid(example):
    model = LetterIn if "recipient" in example else PrecheckIn
    assert model.model_validate(example)


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (LetterIn, {**LETTER, "recipent": "191212121212"}, "recipent"),
        (AttachmentIn, {**ATTACHMENT, "kanal": "paper"}, "kanal"),
        (AddressIn, {**ADDRESS, "land": "Norge"}, "land"),
        (PrecheckIn, {"sender": "2021004748", "recipients": ["191212121212"], "x": 1}, "x"),
    ],
)
def test_an_unknown_field_is_refused_by_name(model, data, field):
    assert refusal(model, data) == [((field,), "extra_forbidden")]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"policy": "digital"}, "policy"),
        ({"body_type": "text/markdown"}, "body_type"),
        ({"sender": "2" * 21}, "sender"),
        ({"subject": "x" * 256}, "subject"),
        ({"attachments": [ATTACHMENT] * 51}, "attachments"),
        ({"support_text": "x" * 1025}, "support_text"),
    ],
)
def test_a_letter_outside_what_the_api_takes_is_refused_on_that_field(changes, field):
    assert [loc for loc, _ in refusal(LetterIn, {**LETTER, **changes})] == [(field,)]


def test_a_letter_needs_a_sender_a_recipient_and_a_subject():
    assert sorted(loc for loc, kind in refusal(LetterIn, {}) if kind == "missing") == [
        ("recipient",),
        ("sender",),
        ("subject",),
    ]


class TestAttachment:
    def test_an_attachment_goes_both_ways_as_a_pdf_unless_told_otherwise(self):
        attachment = AttachmentIn.model_validate(ATTACHMENT)

        assert (attachment.channel, attachment.content_type) == ("both", "application/pdf")

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"channel": "email"}, "channel"),
            ({"content_type": "image/png"}, "content_type"),
            ({"filename": ""}, "filename"),
            ({"filename": "x" * 256}, "filename"),
        ],
    )
    def test_only_pdfs_with_a_name_on_a_known_channel(self, changes, field):
        assert [loc for loc, _ in refusal(AttachmentIn, {**ATTACHMENT, **changes})] == [(field,)]


class TestAddress:
    @pytest.mark.parametrize("count", [1, 4])
    def test_one_to_four_lines(self, count):
        assert len(AddressIn.model_validate({**ADDRESS, "lines": ["x"] * count}).lines) == count

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"lines": []}, "lines"),
            ({"lines": ["x"] * 5}, "lines"),
            ({"name": "x" * 61}, "name"),
            ({"postal_code": ""}, "postal_code"),
        ],
    )
    def test_an_address_that_does_not_fit_an_envelope_is_refused(self, changes, field):
        assert [loc for loc, _ in refusal(AddressIn, {**ADDRESS, **changes})] == [(field,)]


class TestPrecheck:
    def test_the_policy_is_digital_or_paper_unless_told(self):
        body = PrecheckIn.model_validate({"sender": "2021004748", "recipients": ["191212121212"]})
        assert body.policy == "digital-or-paper"

    @pytest.mark.parametrize("count", [0, 1001])
    def test_one_to_a_thousand_recipients_at_a_time(self, count):
        data = {"sender": "2021004748", "recipients": ["191212121212"] * count}
        assert [loc for loc, _ in refusal(PrecheckIn, data)] == [("recipients",)]


PDF = b"%PDF-1.4\n"


def body(**changes):
    return LetterIn.model_validate({**LETTER, "subject": "Beslut", **changes})


def attachment(filename, content, **fields):
    return {"filename": filename, "content_base64": base64.b64encode(content).decode(), **fields}


class TestLetterInput:
    def test_every_field_is_handed_on_and_attachments_decoded(self):
        address = {"name": "David Dahl", "lines": ["Dalvägen 7"], "postal_code": "1", "city": "O"}
        letter = letter_input(
            body(
                body="Hej!",
                policy="digital-only",
                department="Bygglov",
                case_number="BN 2026/1",
                support_text="Ring Anna Andersson,\n0771-00 00 00.",
                attachments=[attachment("beslut.pdf", PDF, channel="paper")],
                address=address,
            )
        )

        assert (letter.sender, letter.recipient, letter.subject) == (
            "202100-4748",
            "19121212-1212",
            "Beslut",
        )
        assert (letter.body, letter.policy, letter.department, letter.case_number) == (
            "Hej!",
            "digital-only",
            "Bygglov",
            "BN 2026/1",
        )
        assert letter.attachments == (AttachmentInput("beslut.pdf", PDF, channel="paper"),)
        assert letter.postal_address == {**address, "country": None}
        assert letter.support_text == "Ring Anna Andersson,\n0771-00 00 00."

    @pytest.mark.parametrize(
        ("in_body", "in_header", "key"),
        [(None, None, None), ("nyckel-1", None, "nyckel-1"), (None, "h-1", "h-1"), ("k", "k", "k")],
    )
    def test_the_idempotency_key_comes_from_the_body_or_the_header(self, in_body, in_header, key):
        letter = letter_input(body(idempotency_key=in_body), in_header)

        assert letter.idempotency_key == key

    def test_two_different_idempotency_keys_are_refused(self):
        with pytest.raises(LetterRejectedError) as refused:
            letter_input(body(idempotency_key="nyckel-1"), "nyckel-2")

        assert refused.value.field == "idempotency_key"
        assert "olika värden" in refused.value.message

    @pytest.mark.parametrize("content", ["JVBERi0xLjQK!", "JVBERi0xLjQ", "JVBE Ri0xLjQK"])
    def test_an_attachment_that_is_not_strict_base64_is_refused_by_its_place(self, content):
        attachments = [attachment("a.pdf", PDF), {"filename": "b.pdf", "content_base64": content}]

        with pytest.raises(LetterRejectedError) as refused:
            letter_input(body(attachments=attachments))

        assert refused.value.field == "attachments[1].content_base64"
        assert refused.value.message.startswith("bilagan b.pdf är inte giltig base64")
