"""The operator's account rules, on a database of their own, with a recording FaR."""

import pytest
from sqlalchemy import select

from support.world import ANNA, DAVID, EXEMPELBOLAGET, IDA, SYD, TOLVAN
from utskick.mm.soap import SoapFault
from utskick.reference.mailbox.accounts import (
    AccountError,
    AccountState,
    MailboxAccounts,
    Role,
    check_email,
    check_mobile_number,
)
from utskick.reference.store import (
    MailboxAccount,
    MailboxCompanyAdministrator,
    MailboxDelegation,
    create_reference_engine,
    create_schema,
    sessions,
)

OWNER = TOLVAN
DELEGATE = IDA
SIGNATORY = ANNA
COMPANY = EXEMPELBOLAGET
NEWCOMER = DAVID


class RecordingFar:
    """FaR as the operator sees it: records calls, refuses with a given fault."""

    def __init__(self, fault=None):
        self.calls = []
        self.fault = fault

    def register(self, recipient_id, user_identity):
        self.calls.append(("register", recipient_id, user_identity))
        if self.fault:
            raise self.fault

    def deregister(self, recipient_id, user_identity):
        self.calls.append(("deregister", recipient_id, user_identity))
        if self.fault:
            raise self.fault


@pytest.fixture
def session_maker(tmp_path):
    engine = create_reference_engine(f"sqlite:///{tmp_path / 'accounts.db'}")
    create_schema(engine)
    maker = sessions(engine)
    with maker.begin() as session:
        session.add_all(
            [
                MailboxAccount(
                    operator_number=SYD,
                    owner_id=OWNER,
                    kind="person",
                    name="Tolvan Tolvansson",
                    email="tolvan@exempel.test",
                ),
                MailboxAccount(
                    operator_number=SYD, owner_id=DELEGATE, kind="person", name="Ida Ivarsson"
                ),
                MailboxAccount(
                    operator_number=SYD, owner_id=COMPANY, kind="company", name="Exempelbolaget AB"
                ),
                MailboxCompanyAdministrator(
                    operator_number=SYD, company_id=COMPANY, person_id=SIGNATORY
                ),
                # The same people at another operator must not count here.
                MailboxAccount(
                    operator_number="5569990020",
                    owner_id=SIGNATORY,
                    kind="person",
                    name="Anna Andersson",
                ),
            ]
        )
    yield maker
    engine.dispose()


@pytest.fixture
def accounts(session_maker):
    return MailboxAccounts(session_maker, SYD)


class TestNoticeAddresses:
    @pytest.mark.parametrize(
        ("typed", "expected"),
        [
            ("070-123 45 67", "0701234567"),
            ("+46 70 123 45 67", "0701234567"),
            ("0046731234567", "0731234567"),
            ("", None),
        ],
    )
    def test_swedish_mobile_numbers_are_kept_as_ten_digits(self, typed, expected):
        assert check_mobile_number(typed) == expected

    @pytest.mark.parametrize("typed", ["08-123 45 67", "070123456", "+47 70 123 45 67", "abc"])
    def test_other_numbers_are_refused(self, typed):
        with pytest.raises(AccountError, match="inget svenskt mobilnummer"):
            check_mobile_number(typed)

    def test_an_email_address_needs_one_at_and_a_domain(self):
        assert check_email(" anna@exempel.se ") == "anna@exempel.se"
        assert check_email("") is None
        for typed in ("anna", "anna@exempel", "a@@b.se", "a b@c.se"):
            with pytest.raises(AccountError, match="är ingen e-postadress"):
                check_email(typed)


class TestWhoMayOpenWhat:
    def test_the_owner_opens_their_own_mailbox(self, accounts):
        [access] = accounts.mailboxes_for(OWNER)
        assert (access.owner_id, access.role) == (OWNER, Role.OWNER)
        assert access.role.may_administer

    def test_a_signatory_opens_the_company_mailbox_as_administrator(self, accounts):
        [access] = accounts.mailboxes_for(SIGNATORY)  # her own mailbox is at Nord
        assert (access.owner_id, access.role) == (COMPANY, Role.SIGNATORY)
        assert access.role.may_administer

    def test_a_delegate_reads_but_does_not_administer(self, accounts):
        accounts.grant_delegation(OWNER, "19930228-1465")
        roles = {m.owner_id: m.role for m in accounts.mailboxes_for(DELEGATE)}
        assert roles == {DELEGATE: Role.OWNER, OWNER: Role.DELEGATE}
        assert not roles[OWNER].may_administer
        assert accounts.revoke_delegation(OWNER, DELEGATE)
        assert accounts.access(DELEGATE, OWNER) is None
        assert not accounts.revoke_delegation(OWNER, DELEGATE)

    def test_a_delegation_is_granted_once(self, accounts):
        accounts.grant_delegation(OWNER, DELEGATE)
        with pytest.raises(AccountError, match="har redan medgivande"):
            accounts.grant_delegation(OWNER, DELEGATE)

    def test_a_stranger_opens_nothing(self, accounts):
        assert accounts.mailboxes_for(NEWCOMER) == []
        assert accounts.access(NEWCOMER, OWNER) is None


class TestOpeningAndClosing:
    def test_a_new_mailbox_is_registered_in_far_first(self, accounts):
        far = RecordingFar()
        account = accounts.open_mailbox(NEWCOMER, "David Dahl", far)
        assert far.calls == [("register", NEWCOMER, NEWCOMER)]
        assert (account.state, account.notice_frequency) == (AccountState.ACTIVE, "aldrig")
        assert accounts.access(NEWCOMER, NEWCOMER).role is Role.OWNER

    def test_when_far_refuses_nothing_is_opened(self, accounts):
        far = RecordingFar(SoapFault(5002, "har redan en brevlåda hos en annan operatör", "x" * 20))
        with pytest.raises(SoapFault):
            accounts.open_mailbox(NEWCOMER, "David Dahl", far)
        assert accounts.account(NEWCOMER) is None

    def test_an_open_mailbox_is_not_opened_again(self, accounts):
        far = RecordingFar()
        with pytest.raises(AccountError, match="redan en öppen brevlåda"):
            accounts.open_mailbox(OWNER, "Tolvan Tolvansson", far)
        assert far.calls == []

    def test_closing_deregisters_ends_delegations_and_blocks_changes(self, accounts, session_maker):
        accounts.grant_delegation(OWNER, DELEGATE)
        far = RecordingFar()
        accounts.deactivate(OWNER, OWNER, far)
        assert far.calls == [("deregister", OWNER, OWNER)]
        assert accounts.account(OWNER).state is AccountState.CLOSED
        assert accounts.mailboxes_for(OWNER) == []
        with session_maker() as session:
            assert not session.scalars(select(MailboxDelegation)).all()
        with pytest.raises(AccountError, match="Brevlådan är stängd"):
            accounts.update_notice_settings(OWNER, email="", phone="", frequency="aldrig")
        with pytest.raises(AccountError, match="redan stängd"):
            accounts.deactivate(OWNER, OWNER, far)
        reopened = accounts.open_mailbox(OWNER, "Tolvan Tolvansson", far)
        assert reopened.state is AccountState.ACTIVE
        assert reopened.email == "tolvan@exempel.test"  # settings survive a reopening

    def test_closing_an_account_far_no_longer_has_still_closes_it(self, accounts):
        accounts.deactivate(OWNER, OWNER, RecordingFar(SoapFault(5003, "finns inte", "x" * 20)))
        assert accounts.account(OWNER).state is AccountState.CLOSED

    def test_any_other_far_refusal_keeps_the_mailbox_open(self, accounts):
        with pytest.raises(SoapFault):
            accounts.deactivate(OWNER, OWNER, RecordingFar(SoapFault(5002, "nej", "x" * 20)))
        assert accounts.account(OWNER).state is AccountState.ACTIVE

    def test_a_signatory_closes_the_company_mailbox_in_their_own_name(self, accounts):
        far = RecordingFar()
        accounts.deactivate(COMPANY, SIGNATORY, far)
        assert far.calls == [("deregister", COMPANY, SIGNATORY)]
        assert accounts.mailboxes_for(SIGNATORY) == []
