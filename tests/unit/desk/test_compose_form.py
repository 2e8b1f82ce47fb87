"""Reading the compose form, and where the page shows each refusal."""

import httpx2
import pytest
from starlette.requests import Request

from support.own_loop import run_in_own_loop
from utskick.desk.compose_form import MAX_FORM_BYTES, FieldError, field_error, read_compose_form
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.letters.inputs import LetterRejectedError

PDF = minimal_pdf(1000)


def request_for(data, files=(), headers=None):
    """A Starlette request carrying the form as a browser posts it (multipart)."""
    built = httpx2.Request("POST", "http://test/brev/nytt", data=data, files=list(files) or None,
                          headers=headers)  # fmt: skip
    body = built.read()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/brev/nytt",
        "headers": [(k.lower().encode(), v.encode()) for k, v in built.headers.items()],
        "query_string": b"",
    }
    sent = [False]

    async def receive():
        if sent[0]:
            return {"type": "http.disconnect"}
        sent[0] = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def read(data, files=(), headers=None):
    return run_in_own_loop(read_compose_form(request_for(data, files, headers)))


FORM = {"recipient": " 19121212-1212 ", "subject": " Beslut ", "body": "Hej!\r\n\r\nText.  ",
        "message_type": "beslut", "idempotency_key": "brev-nytt-abc", "case_number": ""}  # fmt: skip


def test_the_form_becomes_a_draft_with_one_line_fields_trimmed():
    submitted = read(FORM)
    draft = submitted.draft
    assert (draft.recipient, draft.subject, draft.message_type) == (
        "19121212-1212",
        "Beslut",
        "beslut",
    )
    assert draft.body == "Hej!\n\nText.  "
    assert (draft.case_number, draft.postal_address, draft.use_contact) == (None, None, False)
    assert draft.idempotency_key == "brev-nytt-abc"
    assert submitted.values["recipient"] == "19121212-1212"


def test_the_sender_and_department_of_the_form_are_not_read():
    draft = read({**FORM, "sender": "2021009903", "department": "Ekonomi"}).draft
    assert not hasattr(draft, "sender")
    assert not hasattr(draft, "department")


def test_attachments_keep_their_order_and_channels():
    files = [("attachments", ("a.pdf", PDF, "application/pdf")),
             ("attachments", ("b.pdf", PDF, "application/octet-stream"))]  # fmt: skip
    submitted = read({**FORM, "attachment_channel": ["paper", "digital"]}, files)
    attachments = submitted.draft.attachments
    assert [(a.filename, a.channel, a.content_type) for a in attachments] == [
        ("a.pdf", "paper", "application/pdf"), ("b.pdf", "digital", "application/pdf")]  # fmt: skip
    assert submitted.attachment_names == ("a.pdf", "b.pdf")


def test_an_attachment_without_a_chosen_channel_goes_both_ways():
    draft = read(FORM, [("attachments", ("a.pdf", PDF, "application/pdf"))]).draft
    assert draft.attachments[0].channel == "both"


def test_an_empty_file_field_is_no_attachment():
    assert (
        read(FORM, [("attachments", ("", b"", "application/octet-stream"))]).draft.attachments == ()
    )


def test_an_unknown_channel_is_refused():
    with pytest.raises(LetterRejectedError) as refused:
        read(
            {**FORM, "attachment_channel": "fax"},
            [("attachments", ("a.pdf", PDF, "application/pdf"))],
        )
    assert refused.value.field == "attachments[0].channel"


def test_a_form_larger_than_any_letter_is_refused_before_it_is_read():
    with pytest.raises(LetterRejectedError) as refused:
        read(FORM, headers={"content-length": str(MAX_FORM_BYTES + 1)})
    assert refused.value.field == "attachments"
    assert "2 MB" in refused.value.message


def test_an_address_is_read_when_any_of_its_fields_is_filled_in():
    address = read(
        {**FORM, "address_lines": "Gatan 1\r\n\r\nLgh 2", "address_city": "Byn"}
    ).draft.postal_address
    assert address == {"name": "", "lines": ["Gatan 1", "Lgh 2"], "postal_code": "", "city": "Byn"}


def test_contact_details_come_with_the_box_ticked():
    draft = read({**FORM, "use_contact": "1", "contact_email": " a@b.se "}).draft
    assert (draft.use_contact, draft.contact_email, draft.contact_phone) == (True, "a@b.se", None)


def test_a_field_longer_than_any_letter_may_have_is_refused_by_name():
    with pytest.raises(LetterRejectedError) as refused:
        read({**FORM, "recipient": "1" * 41})
    assert refused.value.field == "recipient"


@pytest.mark.parametrize(("service_field", "shown", "input_id"), [
    ("recipient", "recipient", "mottagare"),
    ("protection_class", "message_type", "meddelandetyp"),
    ("attachments[2].content", "attachments", "bilagor"),
    ("attachments", "attachments", "bilagor"),
    ("address.lines", "address_name", "adress-namn"),
    ("address", "address_name", "adress-namn"),
    ("eservice_url", "eservice_url", "etjanst"),
    ("support_text", "contact_email", "kontakt-epost"),
    ("sender", "form", None),
    ("idempotency_key", "form", None),
])  # fmt: skip
def test_each_refusal_is_shown_beside_its_field(service_field, shown, input_id):
    error = field_error(LetterRejectedError(service_field, "ämnesraden är tom"))
    assert error == FieldError(shown, "Ämnesraden är tom")
    assert error.input_id == input_id
