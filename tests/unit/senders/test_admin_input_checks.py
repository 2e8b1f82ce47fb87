"""What an administrator types is checked before it is stored (SQLite and PostgreSQL).

A support address goes on every letter (and is printed on paper letters); a webhook address
receives events about letters; an overlap is a number of hours. Control characters, bidi
formatting characters, plain http to another machine and numbers that are no number of
hours are refused with a Swedish reason, and nothing is changed.
"""

import dataclasses
import datetime as dt
import math

import pytest

from support.world import EXEMPELKOMMUN, NOW, sender_organisation
from utskick.senders.models import SendingSystem
from utskick.senders.support import (
    SupportChange,
    SupportInfoError,
    change_support_info,
    refused_character,
)
from utskick.senders.systems import (
    MAX_SECRET_OVERLAP,
    SendingSystemError,
    create_sending_system,
    secret_overlap,
)

pytestmark = pytest.mark.storage

HIDDEN_CHARACTERS = {
    "newline": "\n",
    "carriage return": "\r",
    "tab": "\t",
    "terminal escape": "\x1b[2J",
    "NUL": "\x00",
    "DEL": "\x7f",
    "C1 control": "\x85",
    "line separator": "\u2028",
    "right-to-left override": "\u202e",
    "left-to-right isolate": "\u2066",
    "right-to-left mark": "\u200f",
}


def parts(sender):
    return (sender.support_text, sender.support_url, sender.support_phone, sender.support_email)


def a_sender():
    return sender_organisation(
        support_url="https://kommun.test/kontakt",
        support_phone="0123-45 67 89",
        support_email="kontakt@kommun.test",
    )


class TestSupportInfo:
    @pytest.mark.parametrize(("name", "hidden"), HIDDEN_CHARACTERS.items())
    @pytest.mark.parametrize(
        ("field", "value", "says"),
        [
            ("url", "https://kommun.test/{}kontakt", "webbadressen"),
            ("phone", "0123-45{}67 89", "telefonnumret"),
            ("email", "kon{}takt@kommun.test", "e-postadressen"),
        ],
    )
    def test_a_hidden_character_inside_a_one_line_part_is_refused(
        self, field, value, says, name, hidden
    ):
        sender = a_sender()
        before = parts(sender)
        change = dataclasses.replace(SupportChange(), **{field: value.format(hidden)})

        with pytest.raises(SupportInfoError) as refused:
            change_support_info(sender, change)

        assert str(refused.value).startswith(f"{says} innehåller"), name
        assert hidden not in str(refused.value), name
        assert parts(sender) == before

    # Line breaks of every kind (the line separator too, as the letter service takes it)
    # belong in a text of several lines.
    @pytest.mark.parametrize(
        ("name", "hidden"),
        [(n, h) for n, h in HIDDEN_CHARACTERS.items() if h not in "\n\r\t\u2028"],
    )
    def test_the_support_text_may_break_lines_but_holds_no_other_hidden_character(
        self, name, hidden
    ):
        sender = a_sender()
        before = parts(sender)

        with pytest.raises(SupportInfoError, match="supporttexten innehåller"):
            change_support_info(sender, SupportChange(text=f"Ring oss{hidden} på 0123-45 67 89."))

        assert parts(sender) == before, name

    def test_a_support_text_on_several_lines_with_a_tab_is_kept(self):
        sender = a_sender()
        text = "Frågor besvaras av kontaktcenter:\n\tvardagar 8–17\r\n\t0123-45 67 89"

        change_support_info(sender, SupportChange(text=text))

        assert sender.support_text == text

    def test_letters_and_symbols_of_other_scripts_are_not_hidden_characters(self):
        assert refused_character("Kontakt – Åsa Öberg, مرحبا, 電話 +46 (0)123") is None

    def test_the_reason_names_the_character_by_its_code(self):
        assert refused_character("a\u202eb") == (
            "riktningstecknet U+202E (RIGHT-TO-LEFT OVERRIDE), som kan få texten att visas i en "
            "annan ordning än den är skriven"
        )
        assert refused_character("a\x1bb") == "styrtecknet U+001B"


def create(session, name="Ärendesystemet", **options):
    return create_sending_system(
        session, name=name, sender_numbers=[EXEMPELKOMMUN], now=NOW, **options
    )


def systems_named(session, name):
    return session.query(SendingSystem).filter_by(name=name).count()


class TestWebhookOfANewSystem:
    @pytest.mark.parametrize(
        ("url", "says"),
        [
            ("http://10.0.0.5/utskick", "använder http utan kryptering"),
            ("http://arende.kommun.test/utskick", "använder http utan kryptering"),
            ("https://arende.kommun.test/" + "h" * 1000, "högst 1024 tecken"),
            ("https://arende.kommun.test/\nutskick", "radbrytning"),
            ("https://arende.kommun.test/\u202eutskick", "riktningstecknet"),
            ("https://arende.kommun.test/en sida", "mellanslag"),
            ("https://[::1/utskick", "går inte att använda"),
        ],
    )
    def test_a_system_is_not_made_with_a_webhook_address_that_may_not_be_set(
        self, senders, url, says
    ):
        with pytest.raises(SendingSystemError, match=says):
            create(senders, webhook_url=url)

        assert systems_named(senders, "Ärendesystemet") == 0

    @pytest.mark.parametrize(
        "url",
        ["https://arende.kommun.test/utskick", "http://127.0.0.1:8080/h", "http://localhost/h"],
    )
    def test_https_or_plain_http_to_this_machine_is_stored_as_given(self, senders, url):
        system = create(senders, webhook_url=f" {url} ")

        assert system.webhook_url == url
        assert system.webhook_secret


class TestSecretOverlap:
    @pytest.mark.parametrize("hours", [math.nan, math.inf, -math.inf, 1e300, -1.0, 720.5])
    def test_an_overlap_that_is_no_usable_number_of_hours_is_refused(self, hours):
        with pytest.raises(SendingSystemError, match="överlappet ska vara mellan 0 och 720 timmar"):
            secret_overlap(hours)

    @pytest.mark.parametrize("hours", [0.0, 0.5, 24.0, 720.0])
    def test_zero_to_thirty_days_is_an_overlap(self, hours):
        overlap = secret_overlap(hours)

        assert overlap == dt.timedelta(hours=hours)
        assert overlap <= MAX_SECRET_OVERLAP
