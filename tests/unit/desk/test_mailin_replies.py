"""The replies' words: each outcome, the recipient masked, nothing sensitive named."""

import datetime as dt

import pytest

from utskick.desk.mailin.replies import (
    outcome_of,
    outcome_reply,
    refusal_reply,
    shown_identity,
    thread_id,
)
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterEvent
from utskick.settings import Settings

NOW = dt.datetime(2026, 12, 7, 9, 15, tzinfo=dt.UTC)


def letter(state, reason=None, **columns):
    return Letter(id="3f6c", recipient_id="191212121212", state=state, reason=reason, **columns)


def batched(route):
    return LetterEvent(state=vocabulary.BATCHED, data={"route": route, "batch_id": "b"})


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("191212121212", "19121212-XXXX"),
        ("121212-1212", "20121212-XXXX"),  # as Utskick reads it: born 2012
        ("121212+1212", "19121212-XXXX"),
        ("197001632392", "19700163-XXXX"),  # samordningsnummer
        ("165569990038", "556999-0038"),  # an organisation is no person: in full
        ("191212121213", "ett ogiltigt nummer"),
    ],
)
def test_a_reply_masks_a_persons_last_four_digits(number, shown):
    assert shown_identity(number) == shown


def test_only_a_well_formed_message_id_is_threaded_under():
    assert thread_id(" <ABC.123@exempelkommun.se> ") == "<ABC.123@exempelkommun.se>"
    assert thread_id("<a b@c>") is None
    assert thread_id(None) is None


@pytest.mark.parametrize(
    ("state", "reason", "events", "headline", "words"),
    [
        (vocabulary.DELIVERED, vocabulary.REACHABLE, [], "har levererats digitalt",
         "levererats digitalt till mottagarens brevlåda."),
        (vocabulary.BATCHED, vocabulary.NOT_REGISTERED, [batched("lokal")], "ska skrivas ut",
         "undantagslista"),
        (vocabulary.BATCHED, vocabulary.NOT_REGISTERED, [batched("Tryckeriet")],
         "skickas på papper", "Mottagaren har ingen digital brevlåda."),
        (vocabulary.HANDED_TO_PRINT, vocabulary.DEADLINE_PASSED, [], "skickas på papper",
         "lämnat till tryckeriet"),
        (vocabulary.PRINTED, vocabulary.NOT_REGISTERED, [], "är utskrivet", "undantagslistan"),
        (vocabulary.IMPOSSIBLE, vocabulary.EMIGRATED, [], "kan inte skickas", "utvandrad"),
        (vocabulary.NOT_REACHABLE, vocabulary.NOT_REGISTERED, [], "har inte skickats",
         "bara skickas digitalt"),
        (vocabulary.FAILED, vocabulary.DELIVERY_REFUSED, [], "kunde inte skickas",
         "tog inte emot brevet"),
        (vocabulary.CANCELLED, vocabulary.CANCELLED, [], "är makulerat", "makulerades"),
    ],
)  # fmt: skip
def test_each_outcome_has_its_words(state, reason, events, headline, words):
    outcome = outcome_of(letter(state, reason), events)
    assert outcome.headline == headline
    assert words in outcome.paragraph


@pytest.mark.parametrize(
    "state", [vocabulary.RECEIVED, vocabulary.CLASSIFIED, vocabulary.RETRYING, vocabulary.PAPER]
)
def test_no_outcome_while_the_letter_is_on_its_way(state):
    assert outcome_of(letter(state), []) is None


def test_a_protected_identity_is_not_named_in_an_email():
    outcome = outcome_of(letter(vocabulary.BATCHED, vocabulary.PROTECTED_IDENTITY), [])
    assert "skyddad" not in outcome.paragraph.lower()
    assert "Skatteverket" not in outcome.paragraph
    assert "Skälet står i Utskick" in outcome.paragraph


def test_the_outcome_reply_names_the_letter_by_link_only():
    settings = Settings(host="0.0.0.0", port=8000, mail_out_from="utskick@brev.exempelkommun.se")
    sent = letter(vocabulary.DELIVERED, vocabulary.REACHABLE, subject="Beslut om LSS",
                  body="Hemligt", case_number="SOC 2026/77")  # fmt: skip
    reply = outcome_reply(
        settings, to="hans@exempelkommun.se", name="Hans", letter=sent,
        outcome=outcome_of(sent, []), received_at=NOW, in_reply_to="<x@y>", now=NOW,
    )  # fmt: skip
    text = reply.get_content()
    assert "den 2026-12-07 kl. 10:15" in text  # Stockholm's time
    assert "http://localhost:8000/brev/3f6c" in text
    for secret in ("LSS", "Hemligt", "SOC 2026/77", "1212121212"):
        assert secret not in text + str(reply["Subject"])
    assert reply["From"] == "Utskick <utskick@brev.exempelkommun.se>"
    assert reply["Message-ID"].endswith("@brev.exempelkommun.se>")


def test_the_refusal_reply_gives_the_reason_as_a_sentence():
    reply = refusal_reply(
        Settings(), to="hans@exempelkommun.se", name=None, recipient=None,
        reason="e-brevet har ingen ämnesrad", in_reply_to=None, now=NOW,
    )  # fmt: skip
    assert reply["Subject"] == "Ditt e-brev kunde inte skickas"
    assert reply["In-Reply-To"] is None
    text = reply.get_content()
    assert text.startswith("Hej!")
    assert "Skäl: E-brevet har ingen ämnesrad." in text
