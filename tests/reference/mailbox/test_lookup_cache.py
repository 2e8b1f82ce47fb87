"""A mailbox operator keeps what it looks up a short time, and stays honest while it does.

FaR's and the mailbox's answers are kept (`UTSKICK_REFERENCE_LOOKUP_CACHE_SECONDS`), so a
delivery to a known recipient costs only its INSERTs; every change written through the
reference is seen at the next delivery, one written around it after the time; and every
delivery is still verified and stored.
"""

import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, text

from support.world import EXEMPELKOMMUN, NORD, SYD, fresh_organisation_number, fresh_personnummer
from utskick.mm.keys import SigningIdentity
from utskick.mm.soap import SoapFault, parse_deliver_secure_response
from utskick.reference.cache import TtlCache
from utskick.reference.mailbox.accounts import MailboxAccounts
from utskick.reference.mailbox.notices import EMAIL, Notices
from utskick.reference.mailbox.operator import MailboxOperator
from utskick.reference.store import MailboxNotice

CACHE_SECONDS = 30


class FakeClock:
    def __init__(self):
        self.now = 5000.0

    def __call__(self):
        return self.now


class FarByRegistry:
    """The operator's FaR calls, done as FaR's service does them: through its registry."""

    def __init__(self, registry):
        self.registry = registry

    def register(self, recipient_id, _user_identity):
        self.registry.register(SYD, recipient_id)

    def deregister(self, recipient_id, _user_identity):
        self.registry.deregister(SYD, recipient_id)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def syd(mailbox_context, clock):
    """Brevlåda Syd in process, keeping answers 30 s on a clock the test moves."""
    cache = TtlCache(CACHE_SECONDS, mailbox_context.changes, clock=clock)
    return MailboxOperator(mailbox_context, mailbox_context.operator("syd"), cache=cache)


@pytest.fixture
def accounts(mailbox_context):
    return MailboxAccounts(mailbox_context.sessions, SYD)


@pytest.fixture
def new_mailbox(mailbox_context, accounts):
    """A person who has just opened a mailbox at Syd (as the citizen mailbox opens one)."""
    person = fresh_personnummer()
    accounts.open_mailbox(person, "Test Testsson", FarByRegistry(mailbox_context.registry))
    return person


@contextmanager
def statements_of_this_thread(engine):
    """The SQL statements this thread sends while the block runs."""
    seen = []
    thread = threading.get_ident()

    def count(_connection, _cursor, statement, *_rest):
        if threading.get_ident() == thread:
            seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def deliver(operator, request, caller):
    return parse_deliver_secure_response(operator.deliver_secure(request, caller))


def refused(operator, request, caller):
    with pytest.raises(SoapFault) as caught:
        operator.deliver_secure(request, caller)
    return caught.value


@pytest.fixture
def exempel(mailbox_context):
    return mailbox_context.pki.certificates[EXEMPELKOMMUN]


class TestWhatIsKept:
    def test_a_delivery_to_a_known_recipient_costs_only_its_two_inserts(
        self, syd, letters, new_mailbox, exempel, mailbox_context, stored_rows
    ):
        deliver(syd, letters.request(letters.letter(new_mailbox)), exempel)
        before = stored_rows()
        with statements_of_this_thread(mailbox_context.engine) as sent:
            result = deliver(syd, letters.request(letters.letter(new_mailbox)), exempel)
        assert result.statuses[0].delivered
        assert [statement.split()[:3] for statement in sent] == [
            ["INSERT", "INTO", "mailbox_delivery"],
            ["INSERT", "INTO", "mailbox_message"],
        ]
        assert stored_rows() == (before[0] + 1, before[1] + 1)

    def test_a_delivery_to_a_recipient_new_to_the_cache_adds_one_select(
        self, syd, letters, new_mailbox, exempel, mailbox_context
    ):
        deliver(syd, letters.request(letters.letter(TOLVAN_AT_SYD)), exempel)  # parties kept
        with statements_of_this_thread(mailbox_context.engine) as sent:
            deliver(syd, letters.request(letters.letter(new_mailbox)), exempel)
        assert [statement.split()[0] for statement in sent] == ["SELECT", "INSERT", "INSERT"]

    def test_without_a_time_every_delivery_looks_everything_up(
        self, mailbox_context, letters, new_mailbox, exempel
    ):
        uncached = MailboxOperator(
            mailbox_context,
            mailbox_context.operator("syd"),
            cache=TtlCache(0, mailbox_context.changes),
        )
        deliver(uncached, letters.request(letters.letter(new_mailbox)), exempel)
        with statements_of_this_thread(mailbox_context.engine) as sent:
            deliver(uncached, letters.request(letters.letter(new_mailbox)), exempel)
        assert sum(statement.startswith("SELECT") for statement in sent) >= 4


class TestChangesAreSeen:
    def test_a_mailbox_closed_by_its_owner_is_refused_at_once(
        self, syd, letters, new_mailbox, exempel, accounts, mailbox_context, stored_rows
    ):
        deliver(syd, letters.request(letters.letter(new_mailbox)), exempel)
        accounts.deactivate(new_mailbox, new_mailbox, FarByRegistry(mailbox_context.registry))
        before = stored_rows()
        fault = refused(syd, letters.request(letters.letter(new_mailbox)), exempel)
        assert fault.error_code == 5003
        assert stored_rows() == before

    def test_a_mailbox_moved_to_another_operator_in_far_is_refused_at_once(
        self, syd, letters, new_mailbox, exempel, mailbox_context
    ):
        deliver(syd, letters.request(letters.letter(new_mailbox)), exempel)
        mailbox_context.registry.change_service_supplier(new_mailbox, NORD)
        fault = refused(syd, letters.request(letters.letter(new_mailbox)), exempel)
        assert fault.error_code == 5003

    def test_a_mailbox_closed_around_the_reference_is_refused_once_the_time_is_out(
        self, syd, letters, new_mailbox, exempel, mailbox_context, clock
    ):
        deliver(syd, letters.request(letters.letter(new_mailbox)), exempel)
        # Raw SQL on the database: no session of the reference sees it being written.
        with mailbox_context.engine.begin() as connection:
            connection.execute(
                text("UPDATE mailbox_account SET active = false WHERE owner_id = :owner"),
                {"owner": new_mailbox},
            )
        clock.now += CACHE_SECONDS - 1
        assert deliver(syd, letters.request(letters.letter(new_mailbox)), exempel).statuses
        clock.now += 2
        fault = refused(syd, letters.request(letters.letter(new_mailbox)), exempel)
        assert fault.error_code == 5003

    def test_a_certificate_registered_in_far_is_accepted_at_once_and_a_dropped_sender_refused(
        self, syd, letters, mailbox_context
    ):
        number = fresh_organisation_number()
        identity, _bundle = letters.stranger(number, "Nybildade kommunen")
        registry = mailbox_context.registry
        registry.add_organisation(number, "Nybildade kommunen", sender=True)
        letter = letters.letter(TOLVAN_AT_SYD, sender=number, sender_name="Nybildade kommunen")

        def request():
            return letters.request(letter_again(letters, letter), signer=identity, sealer=identity)

        assert refused(syd, request(), identity.certificate).error_code == 5002
        registry.add_certificate(number, identity.certificate)
        assert deliver(syd, request(), identity.certificate).statuses[0].delivered
        registry.add_organisation(number, "Nybildade kommunen", sender=False)
        assert refused(syd, request(), identity.certificate).error_code == 5014

    def test_notice_settings_changed_in_the_mailbox_apply_to_the_next_letter(
        self, mailbox_context, syd_store, letters, new_mailbox, exempel, accounts, clock
    ):
        notices = Notices(mailbox_context, mailbox_context.operator("syd"), syd_store)
        operator = MailboxOperator(
            mailbox_context,
            mailbox_context.operator("syd"),
            store=syd_store,
            notices=notices,
            cache=TtlCache(CACHE_SECONDS, mailbox_context.changes, clock=clock),
        )
        try:
            deliver(operator, letters.request(letters.letter(new_mailbox)), exempel)
            assert notices_to(mailbox_context, new_mailbox) == []  # "aldrig" on opening
            accounts.update_notice_settings(
                new_mailbox, email="ny@exempel.test", phone="", frequency="daglig"
            )
            deliver(operator, letters.request(letters.letter(new_mailbox)), exempel)
            assert notices_to(mailbox_context, new_mailbox) == [EMAIL]
        finally:
            notices.close()


class TestStillHonest:
    def test_a_tampered_copy_of_an_accepted_delivery_is_refused(
        self, syd, letters, new_mailbox, exempel, stored_rows
    ):
        letter = letters.letter(new_mailbox, subject="Beslut om bygglov")
        accepted = letters.request(letter)
        deliver(syd, accepted, exempel)
        before = stored_rows()
        tampered = accepted.replace(b"Beslut om bygglov", b"Beslut om rivning")
        assert tampered != accepted
        fault = refused(syd, tampered, exempel)
        assert fault.error_code == 5012
        assert stored_rows() == before

    def test_a_signature_by_a_certificate_far_does_not_hold_is_refused_with_the_sender_kept(
        self, syd, letters, new_mailbox, exempel, mailbox_context
    ):
        deliver(syd, letters.request(letters.letter(new_mailbox)), exempel)
        issued = mailbox_context.pki.authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun")
        unregistered = SigningIdentity(issued.private_key, issued.certificate)
        request = letters.request(letters.letter(new_mailbox), signer=unregistered)
        fault = refused(syd, request, exempel)
        assert fault.error_code == 5012
        assert "inte betrott" in fault.description

    def test_a_repeat_is_stored_once_and_answered_with_the_first_trans_id(
        self, syd, letters, new_mailbox, exempel, stored_rows
    ):
        request = letters.request(letters.letter(new_mailbox))
        first = deliver(syd, request, exempel)
        after_first = stored_rows()
        again = deliver(syd, request, exempel)
        assert again.trans_id == first.trans_id
        assert stored_rows() == after_first


TOLVAN_AT_SYD = "191212121212"


def letter_again(letters, letter):
    """The same letter as a new delivery (its own message Id)."""
    message = letter.messages[0]
    return letters.letter(
        letter.recipient_id,
        sender=letter.sender_id[2:],
        sender_name=letter.sender_name,
        subject=message.subject,
    )


def notices_to(context, recipient):
    with context.sessions() as session:
        return list(
            session.scalars(
                select(MailboxNotice.channel)
                .where(MailboxNotice.recipient_id == recipient)
                .order_by(MailboxNotice.id)
            )
        )
