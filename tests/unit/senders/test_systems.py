"""Sending systems and their keys as the admin commands create, find and revoke them (SQLite
and PostgreSQL): what a system may be created with, and that a key is shown once and kept
only as its hash."""

import datetime as dt

import pytest
from sqlalchemy import select

from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW
from utskick.senders.api_keys import authenticate, hash_api_key, shown_prefix
from utskick.senders.models import ApiKey
from utskick.senders.systems import (
    SendingSystemError,
    api_keys_of,
    create_sending_system,
    find_sending_system,
    issue_api_key,
    revoke_api_key,
)

pytestmark = pytest.mark.storage


def create(session, name="Ärendesystemet", sender_numbers=(EXEMPELKOMMUN,), **options):
    return create_sending_system(
        session, name=name, sender_numbers=list(sender_numbers), now=NOW, **options
    )


class TestCreate:
    def test_numbers_are_stored_as_ten_digits_once_each_and_the_name_trimmed(self, senders):
        system = create(
            senders,
            name="  Ärendesystemet ",
            sender_numbers=["202100-4748", EXEMPELKOMMUN, GRANNKOMMUN],
        )

        assert system.name == "Ärendesystemet"
        assert system.sender_numbers == [EXEMPELKOMMUN, GRANNKOMMUN]
        assert system.departments is None  # any department

    def test_departments_are_trimmed_and_blank_ones_dropped(self, senders):
        system = create(senders, departments=[" Bygglov ", "", "  ", "Miljö"])

        assert system.departments == ["Bygglov", "Miljö"]

    @pytest.mark.parametrize(
        ("name", "sender_numbers", "message"),
        [
            ("", [EXEMPELKOMMUN], "systemets namn ska ha 1–200 tecken"),
            ("   ", [EXEMPELKOMMUN], "systemets namn ska ha 1–200 tecken"),
            ("x" * 201, [EXEMPELKOMMUN], "systemets namn ska ha 1–200 tecken"),
            ("Ärendesystemet", [], "ange minst en avsändarorganisation"),
            ("Ärendesystemet", ["2021004749"], "ogiltigt organisationsnummer: "),
            ("Ärendesystemet", ["2120000142"], "avsändaren 2120000142 finns inte; lägg först"),
        ],
    )
    def test_what_cannot_be_a_system_is_refused_in_swedish(
        self, senders, name, sender_numbers, message
    ):
        with pytest.raises(SendingSystemError) as refused:
            create(senders, name=name, sender_numbers=sender_numbers)

        assert message in str(refused.value)

    def test_a_name_of_200_characters_is_long_enough(self, senders):
        assert create(senders, name="x" * 200).name == "x" * 200

    def test_a_name_is_used_once(self, senders):
        create(senders)

        with pytest.raises(SendingSystemError, match="det finns redan ett system som heter"):
            create(senders, name=" Ärendesystemet")

    @pytest.mark.parametrize(
        "url", ["ftp://exempel.test/hook", "https://", "exempel.test/hook", "javascript:x"]
    )
    def test_a_webhook_must_be_an_http_or_https_address_with_a_host(self, senders, url):
        with pytest.raises(SendingSystemError, match="adress som börjar med https://"):
            create(senders, webhook_url=url)

    def test_a_webhook_without_a_secret_gets_a_new_one_of_its_own(self, senders):
        first = create(senders, name="Ett", webhook_url="https://exempel.test/hook")
        second = create(senders, name="Två", webhook_url="https://intern.exempel.test/hook")

        assert len(first.webhook_secret) >= 32
        assert first.webhook_secret != second.webhook_secret

    def test_a_secret_given_with_the_webhook_is_kept_and_without_one_dropped(self, senders):
        kept = create(
            senders, name="Ett", webhook_url="https://exempel.test/hook", webhook_secret="delad"
        )
        dropped = create(senders, name="Två", webhook_secret="delad")

        assert kept.webhook_secret == "delad"
        assert (dropped.webhook_url, dropped.webhook_secret) == (None, None)


def test_a_system_is_found_by_name_or_id_and_a_missing_one_named(senders):
    system = create(senders)

    assert find_sending_system(senders, "Ärendesystemet") is system
    assert find_sending_system(senders, system.id) is system
    with pytest.raises(SendingSystemError, match="det finns inget system som heter Annat"):
        find_sending_system(senders, "Annat")


class TestKeys:
    def test_an_issued_key_is_stored_only_as_its_hash_and_prefix(self, senders):
        system = create(senders)

        issued = issue_api_key(senders, system, now=NOW)

        [stored] = senders.scalars(select(ApiKey)).all()
        assert (stored.id, stored.sending_system_id) == (issued.key_id, system.id)
        assert stored.key_hash == hash_api_key(issued.clear_key)
        assert stored.prefix == issued.prefix == shown_prefix(issued.clear_key)
        assert issued.clear_key not in (stored.key_hash, stored.prefix)
        assert authenticate(senders, issued.clear_key) is system

    @pytest.mark.parametrize("named_by", ["key_id", "prefix"])
    def test_a_key_is_revoked_by_its_id_or_its_prefix_once(self, senders, named_by):
        issued = issue_api_key(senders, create(senders), now=NOW)
        later = NOW + dt.timedelta(days=1)

        revoked = revoke_api_key(senders, getattr(issued, named_by), now=NOW)
        again = revoke_api_key(senders, issued.key_id, now=later)

        assert revoked is again
        assert again.revoked_at == NOW

    def test_an_unknown_or_ambiguous_key_is_not_revoked(self, senders):
        system = create(senders)
        first = issue_api_key(senders, system, now=NOW)
        second = issue_api_key(senders, system, now=NOW)
        senders.get(ApiKey, second.key_id).prefix = first.prefix
        senders.flush()

        with pytest.raises(SendingSystemError, match="det finns ingen API-nyckel uk_okand"):
            revoke_api_key(senders, "uk_okand", now=NOW)
        with pytest.raises(SendingSystemError, match="passar flera nycklar"):
            revoke_api_key(senders, first.prefix, now=NOW)
        assert [key.revoked_at for key in api_keys_of(senders, system)] == [None, None]

    def test_a_systems_keys_are_listed_oldest_first_and_no_one_elses(self, senders):
        system = create(senders)
        newer = issue_api_key(senders, system, now=NOW + dt.timedelta(hours=1))
        older = issue_api_key(senders, system, now=NOW)
        issue_api_key(senders, create(senders, name="Annat"), now=NOW)

        assert [key.id for key in api_keys_of(senders, system)] == [older.key_id, newer.key_id]
