"""The citizen mailbox over HTTP: login, reading, roles, settings, registration, closing.

These tests run a reference infrastructure of their own, so that they may activate Cecilia,
register David and close mailboxes without changing the shared demo world other tests read.
"""

import base64
import dataclasses
import json
import re
import time

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from support.reference_mailbox import MailboxVisitor, deliver_letter, visible_text
from support.world import (
    ANNA,
    CECILIA,
    DAVID,
    EVA,
    EXEMPELBOLAGET,
    IDA,
    TOLVAN,
    fresh_personnummer,
    mtls_client,
    running_reference,
)
from utskick.reference.far.client import far_client_for
from utskick.reference.mailbox.ui import create_mailbox_ui_app
from utskick.reference.store import MailboxAccount, MailboxDelegation
from utskick.reference.world import EXEMPELKOMMUN, GRANNKOMMUN, NORD, SYD


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with running_reference(tmp_path_factory.mktemp("mailbox-ui")) as context:
        yield context


@pytest.fixture(scope="module")
def sender_client(world):
    client = mtls_client(world)
    yield client
    client.close()


@pytest.fixture(scope="module")
def far_as_sender(world):
    client = far_client_for(world, EXEMPELKOMMUN)
    yield client
    client.close()


@pytest.fixture
def visit(world):
    visitors = []

    def make(operator_key="syd"):
        visitor = MailboxVisitor(world.endpoints.operators[operator_key].ui_url)
        visitors.append(visitor)
        return visitor

    yield make
    for visitor in visitors:
        visitor.close()


@pytest.fixture
def owner(visit):
    """A fresh person with a newly registered mailbox at Syd, logged in."""
    person_id = fresh_personnummer()
    visitor = visit()
    visitor.log_in(person_id)
    visitor.register()
    return person_id, visitor


def _inbox_rows(html):
    return re.findall(r'<tr class="(unread|read)">(.*?)</tr>', html, re.DOTALL)


class TestLogin:
    def test_login_page_is_marked_as_test_mode_and_lists_the_demo_persons(self, visit):
        page = visit().get("/logga-in")
        assert page.status_code == 200
        assert "TESTLÄGE – simulerad e-legitimation, inga riktiga uppgifter" in page.text
        assert "Tolvan Tolvansson" in page.text
        assert "19121212-1212" in page.text
        assert 'aria-label="Logga in som Cecilia Carlsson"' in page.text

    def test_a_visitor_who_is_not_logged_in_is_sent_to_the_login(self, visit):
        visitor = visit()
        for path in ("/", "/inkorg", "/installningar", "/meddelanden/1"):
            assert str(visitor.get(path).url).endswith("/logga-in"), path

    def test_a_wrong_check_digit_is_refused_with_a_swedish_explanation(self, visit):
        visitor = visit()
        visitor.get("/logga-in")
        page = visitor.post("/logga-in", {"personnummer": "19121212-1213"})
        assert page.status_code == 400
        assert "kontrollsiffran stämmer inte" in page.text
        assert 'value="19121212-1213"' in page.text  # what was typed is kept

    def test_a_typed_personnummer_with_hyphen_logs_in_as_that_person(self, visit):
        page = visit().log_in("19121212-1212")
        assert "Inloggad som <strong>Tolvan Tolvansson</strong> (19121212-1212)" in page.text
        assert "<h1>Inkorg</h1>" in page.text

    def test_a_form_without_the_sessions_token_is_refused(self, visit):
        visitor = visit()
        visitor.get("/logga-in")
        page = visitor.post("/logga-in", {"personnummer": TOLVAN}, token=False)
        assert page.status_code == 403
        assert "Ladda om sidan" in page.text
        forged = visitor.http.post("/logga-in", data={"personnummer": TOLVAN, "csrf_token": "x"})
        assert forged.status_code == 403

    def test_logging_out_ends_the_session(self, visit):
        visitor = visit()
        visitor.log_in(TOLVAN)
        page = visitor.post("/logga-ut")
        assert "Du är utloggad." in page.text
        assert str(visitor.get("/inkorg").url).endswith("/logga-in")

    def test_without_test_login_nobody_can_log_in(self, world):
        settings = world.settings.model_copy(update={"test_login": False})
        app = create_mailbox_ui_app(
            dataclasses.replace(world, settings=settings), world.operator("syd")
        )
        with TestClient(app) as client:
            page = client.get("/logga-in")
            assert "avstängd" in page.text
            assert 'name="personnummer"' not in page.text
            # No form shows a token; take it from the session cookie to pass the CSRF check.
            payload = client.cookies["brevlada_syd"].split(".")[0]
            token = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))["csrf"]
            refused = client.post("/logga-in", data={"personnummer": TOLVAN, "csrf_token": token})
            assert refused.status_code == 403
            assert "avstängd" in refused.text


class TestReading:
    def test_a_delivered_letter_is_unread_in_the_inbox_until_it_is_opened(
        self, world, sender_client, owner
    ):
        person_id, visitor = owner
        deliver_letter(
            world, sender_client, person_id, subject="Beslut om bygglov", pdf_name="beslut.pdf"
        )
        inbox = visitor.get("/inkorg")
        assert "1 olästa" in inbox.text
        [(state, row)] = _inbox_rows(inbox.text)
        assert state == "unread"
        assert "Exempelkommun" in row
        assert "Beslut om bygglov" in row
        assert "Oläst" in row

        message_id = re.search(r'href="/meddelanden/(\d+)"', row).group(1)
        page = visitor.get(f"/meddelanden/{message_id}")
        assert "<h1>Beslut om bygglov</h1>" in page.text
        assert "Ditt beslut finns i bilagan." in page.text
        assert "kommunens kontaktcenter" in page.text
        assert 'href="https://exempelkommun.test/kontakt"' in page.text

        [(state, row)] = _inbox_rows(visitor.get("/inkorg").text)
        assert state == "read"
        assert "Oläst" not in row

    def test_the_pdf_attachment_opens_as_a_pdf_in_the_browser(self, world, sender_client, owner):
        person_id, visitor = owner
        deliver_letter(
            world, sender_client, person_id, subject="Faktura", pdf_name="faktura mars.pdf"
        )
        message_id = re.search(r'href="/meddelanden/(\d+)"', visitor.get("/inkorg").text).group(1)
        page = visitor.get(f"/meddelanden/{message_id}")
        link = re.search(r'href="(/meddelanden/\d+/bilagor/0)"[^>]*>faktura mars.pdf<', page.text)
        assert link
        pdf = visitor.get(link.group(1))
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"].startswith('inline; filename="faktura mars.pdf"')
        assert pdf.content.startswith(b"%PDF")

    def test_a_plain_text_body_is_escaped_and_an_html_body_stays_in_a_sandbox(
        self, world, sender_client, owner
    ):
        person_id, visitor = owner
        deliver_letter(
            world, sender_client, person_id, subject="Text", body="<script>alert(1)</script>"
        )
        deliver_letter(
            world,
            sender_client,
            person_id,
            subject="Html",
            content_type="text/html",
            body="<p>Hej <b>du</b></p>",
        )
        links = re.findall(r'href="/meddelanden/(\d+)">([^<]+)<', visitor.get("/inkorg").text)
        ids = {subject: number for number, subject in links}
        text_page = visitor.get(f"/meddelanden/{ids['Text']}").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text_page
        assert "<script>" not in text_page
        html_page = visitor.get(f"/meddelanden/{ids['Html']}").text
        assert 'sandbox="" srcdoc="&lt;p&gt;Hej &lt;b&gt;du&lt;/b&gt;&lt;/p&gt;"' in html_page
        assert "<p>Hej <b>du</b></p>" not in html_page

    def test_pages_forbid_scripts_framing_and_caching(self, visit):
        page = visit().get("/logga-in")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"

    def test_another_persons_message_is_not_found_rather_than_forbidden(
        self, world, sender_client, owner, visit
    ):
        person_id, _ = owner
        deliver_letter(world, sender_client, person_id, subject="Privat", pdf_name="privat.pdf")
        with world.sessions() as session:
            from utskick.reference.store import MailboxMessage

            message_id = session.scalar(
                select(MailboxMessage.id).where(MailboxMessage.recipient_id == person_id)
            )
        stranger = visit()
        stranger.log_in(TOLVAN)
        for path in (f"/meddelanden/{message_id}", f"/meddelanden/{message_id}/bilagor/0"):
            page = stranger.get(path)
            assert page.status_code == 404
            assert "Meddelandet finns inte i den här brevlådan." in page.text
            assert "Privat" not in page.text
        assert stranger.get("/meddelanden/inte-ett-id").status_code == 404
        assert stranger.post(f"/meddelanden/{message_id}/radera").status_code == 404

    def test_a_missing_attachment_is_not_found(self, world, sender_client, owner):
        person_id, visitor = owner
        deliver_letter(world, sender_client, person_id, subject="Utan bilaga")
        message_id = re.search(r'href="/meddelanden/(\d+)"', visitor.get("/inkorg").text).group(1)
        assert visitor.get(f"/meddelanden/{message_id}/bilagor/0").status_code == 404

    def test_the_owner_deletes_a_message(self, world, sender_client, owner):
        person_id, visitor = owner
        deliver_letter(world, sender_client, person_id, subject="Att radera")
        message_id = re.search(r'href="/meddelanden/(\d+)"', visitor.get("/inkorg").text).group(1)
        page = visitor.post(f"/meddelanden/{message_id}/radera")
        assert "Meddelandet ”Att radera” är raderat." in page.text
        assert "Inga meddelanden ännu." in page.text
        assert visitor.get(f"/meddelanden/{message_id}").status_code == 404


class TestDelegation:
    def test_a_delegate_reads_but_may_not_delete_or_change_settings(
        self, world, sender_client, owner, visit
    ):
        person_id, visitor = owner
        deliver_letter(
            world, sender_client, person_id, subject="Till ombudet", pdf_name="underlag.pdf"
        )
        granted = visitor.post("/installningar/ombud", {"personnummer": IDA})
        assert "19930228-1465 kan nu läsa brevlådan" in granted.text

        delegate = visit()
        delegate.log_in(IDA)
        opened = delegate.post("/brevlada", {"owner": person_id})
        assert "som ombud: du kan läsa men inte radera eller ändra" in opened.text
        assert 'href="/installningar"' not in opened.text
        message_id = re.search(r'href="/meddelanden/(\d+)"', opened.text).group(1)
        page = delegate.get(f"/meddelanden/{message_id}")
        assert "Till ombudet" in page.text
        assert "Radera meddelandet" not in page.text
        assert delegate.get(f"/meddelanden/{message_id}/bilagor/0").content.startswith(b"%PDF")

        for path, data in (
            (f"/meddelanden/{message_id}/radera", {}),
            ("/installningar/avisering", {"epost": "ombud@exempel.test", "frekvens": "direkt"}),
            ("/installningar/avsandare", {}),
            ("/installningar/ombud", {"personnummer": TOLVAN}),
            ("/installningar/avsluta", {"bekrafta": "ja"}),
        ):
            refused = delegate.post(path, data)
            assert refused.status_code == 403, path
            assert "Som ombud kan du läsa brevlådan" in refused.text
        assert delegate.get("/installningar").status_code == 403
        assert "Till ombudet" in delegate.get("/inkorg").text
        assert world.registry.accepted_senders(SYD, person_id)  # FaR unchanged

    def test_a_revoked_delegate_can_no_longer_open_the_mailbox(self, owner, visit):
        person_id, visitor = owner
        visitor.post("/installningar/ombud", {"personnummer": IDA})
        delegate = visit()
        delegate.log_in(IDA)
        delegate.post("/brevlada", {"owner": person_id})
        revoked = visitor.post("/installningar/ombud/aterkalla", {"ombud": IDA})
        assert "Medgivandet för 19930228-1465 är återkallat." in revoked.text
        assert "Ingen har medgivande" in revoked.text
        # The delegate's next page falls back to her own mailbox.
        assert "Ida Ivarsson (din egen brevlåda)" in visible_text(delegate.get("/inkorg").text)
        assert delegate.post("/brevlada", {"owner": person_id}).status_code == 403

    def test_delegation_needs_a_valid_personnummer_of_someone_else(self, owner):
        person_id, visitor = owner
        bad = visitor.post("/installningar/ombud", {"personnummer": "19930228-1466"})
        assert bad.status_code == 400
        assert "kontrollsiffran stämmer inte" in bad.text
        own = visitor.post("/installningar/ombud", {"personnummer": person_id})
        assert own.status_code == 400
        assert "Du kan inte ge dig själv medgivande" in own.text

    def test_nobody_opens_a_mailbox_they_have_no_right_to(self, owner, visit):
        person_id, _ = owner
        stranger = visit()
        stranger.log_in(TOLVAN)
        refused = stranger.post("/brevlada", {"owner": person_id})
        assert refused.status_code == 403
        assert "Du har inte behörighet att öppna den brevlådan." in refused.text


class TestCompanyMailbox:
    def test_a_signatory_administers_the_company_mailbox(self, visit):
        anna = visit("nord")
        anna.log_in(ANNA)
        inbox = anna.post("/brevlada", {"owner": EXEMPELBOLAGET})
        assert "Exempelbolaget AB (företagets brevlåda, du är firmatecknare)" in visible_text(
            inbox.text
        )
        settings = anna.get("/installningar")
        assert settings.status_code == 200
        saved = anna.post(
            "/installningar/avisering",
            {"epost": "post@exempelbolaget.test", "mobil": "", "frekvens": "daglig"},
        )
        assert "Aviseringarna är sparade." in saved.text
        assert 'value="post@exempelbolaget.test"' in saved.text

    def test_a_person_who_signs_for_nothing_has_no_company_mailbox(self, visit):
        tolvan = visit("nord")
        tolvan.log_in(TOLVAN)
        assert tolvan.post("/brevlada", {"owner": EXEMPELBOLAGET}).status_code == 403


class TestSettings:
    def test_notice_settings_are_checked_and_saved(self, world, owner):
        person_id, visitor = owner
        bad_mail = visitor.post(
            "/installningar/avisering", {"epost": "inte en adress", "frekvens": "direkt"}
        )
        assert bad_mail.status_code == 400
        assert "'inte en adress' är ingen e-postadress" in visible_text(bad_mail.text)
        bad_phone = visitor.post(
            "/installningar/avisering", {"mobil": "08-123 456", "frekvens": "direkt"}
        )
        assert bad_phone.status_code == 400
        assert "är inget svenskt mobilnummer" in bad_phone.text
        nothing = visitor.post("/installningar/avisering", {"frekvens": "veckovis"})
        assert nothing.status_code == 400
        assert "Fyll i en e-postadress eller ett mobilnummer" in nothing.text
        unknown = visitor.post(
            "/installningar/avisering", {"epost": "a@b.se", "frekvens": "varje timme"}
        )
        assert unknown.status_code == 400

        saved = visitor.post(
            "/installningar/avisering",
            {"epost": "ny@exempel.test", "mobil": "+46 70-987 65 43", "frekvens": "veckovis"},
        )
        assert "Aviseringarna är sparade." in saved.text
        with world.sessions() as session:
            account = session.get(MailboxAccount, (SYD, person_id))
        assert (account.email, account.phone, account.notice_frequency) == (
            "ny@exempel.test",
            "0709876543",
            "veckovis",
        )

    def test_opting_out_of_a_sender_is_stored_in_far(self, world, owner, far_as_sender):
        person_id, visitor = owner
        page = visitor.get("/installningar")
        assert 'value="2021009903" checked' in page.text
        saved = visitor.post("/installningar/avsandare", {"avsandare": [EXEMPELKOMMUN]})
        assert "Valet av avsändare är sparat." in saved.text
        assert 'value="2021009903">' in saved.text  # no longer ticked
        with far_client_for(world, GRANNKOMMUN) as far_as_grannkommun:
            [status] = far_as_grannkommun.is_reachable(GRANNKOMMUN, [person_id])
        assert status.sender_accepted is False
        [status] = far_as_sender.is_reachable(EXEMPELKOMMUN, [person_id])
        assert status.sender_accepted is True

    def test_an_unknown_sender_in_the_form_is_refused(self, owner):
        _, visitor = owner
        refused = visitor.post("/installningar/avsandare", {"avsandare": ["5560000000"]})
        assert refused.status_code == 400
        assert "Okänd avsändare i formuläret: 5560000000" in refused.text


class TestNotices:
    def test_a_letter_is_announced_to_the_address_and_number_set_in_the_mailbox(
        self, world, sender_client, owner
    ):
        person_id, visitor = owner
        address = f"{person_id}@exempel.test"
        visitor.post(
            "/installningar/avisering",
            {"epost": address, "mobil": "070-555 12 34", "frekvens": "direkt"},
        )
        deliver_letter(world, sender_client, person_id, subject="Beslut om parkeringstillstånd")
        sink = httpx2.Client(base_url=world.endpoints.sink_page_url, timeout=10)
        mails, messages = [], []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (mails and messages):
            mails = sink.get("/api/mail", params={"till": address}).json()
            messages = sink.get("/api/sms", params={"till": "0705551234"}).json()
            time.sleep(0.1)
        page = sink.get("/").text
        sink.close()
        [mail] = mails
        assert "Exempelkommun" in mail["subject"] + mail["body"]
        assert "Beslut om parkeringstillstånd" not in mail["subject"] + mail["body"]  # secure
        assert len(messages) == 1
        assert address in page
        assert "0705551234" in page


class TestRegistration:
    def test_a_person_without_a_mailbox_registers_one_and_far_knows_it(self, visit, far_as_sender):
        visitor = visit("nord")
        start = visitor.log_in(DAVID)
        assert "Du har ingen brevlåda hos Brevlåda Nord AB" in start.text
        refused = visitor.post("/registrera", {})
        assert refused.status_code == 400
        assert "Du behöver godkänna villkoren" in refused.text
        [before] = far_as_sender.is_reachable(EXEMPELKOMMUN, [DAVID])
        assert before.account_type == "Not"

        inbox = visitor.register()
        assert "Din brevlåda är öppnad." in inbox.text
        [after] = far_as_sender.is_reachable(EXEMPELKOMMUN, [DAVID])
        assert (after.account_type, after.pending, after.sender_accepted) == ("Secure", False, True)
        assert after.service_supplier.id.endswith(NORD)

    def test_a_pending_mailbox_is_activated(self, visit, far_as_sender):
        visitor = visit()
        start = visitor.log_in(CECILIA)
        assert "Aktivera din brevlåda" in start.text
        inbox = visitor.register()
        assert "Din brevlåda är aktiverad." in inbox.text
        [status] = far_as_sender.is_reachable(EXEMPELKOMMUN, [CECILIA])
        assert status.pending is False

    def test_far_refusing_leaves_no_mailbox_and_says_why(self, world, visit):
        visitor = visit()  # Syd; Anna's mailbox is at Nord
        visitor.log_in(ANNA)
        refused = visitor.post("/registrera", {"villkor": "ja"})
        assert refused.status_code == 400
        assert (
            "Brevlådan kunde inte öppnas. Förmedlingsadressregistret (FaR) svarade:" in refused.text
        )
        assert "annan operatör" in refused.text
        with world.sessions() as session:
            assert session.get(MailboxAccount, (SYD, ANNA)) is None

    def test_a_protected_identity_cannot_register(self, world, visit):
        visitor = visit()
        visitor.log_in(EVA)
        refused = visitor.post("/registrera", {"villkor": "ja"})
        assert refused.status_code == 400
        assert "skyddad identitet" in refused.text
        with world.sessions() as session:
            assert session.get(MailboxAccount, (SYD, EVA)) is None


class TestDeactivation:
    def test_closing_needs_confirmation(self, owner):
        _, visitor = owner
        page = visitor.get("/installningar/avsluta")
        assert "avregistreras den i förmedlingsadressregistret" in page.text
        refused = visitor.post("/installningar/avsluta", {})
        assert refused.status_code == 400
        assert "Kryssa i rutan" in refused.text

    def test_a_closed_mailbox_is_gone_from_far_and_can_be_reopened(
        self, world, sender_client, owner, far_as_sender
    ):
        person_id, visitor = owner
        deliver_letter(world, sender_client, person_id, subject="Före stängningen")
        visitor.post("/installningar/ombud", {"personnummer": IDA})
        closed = visitor.post("/installningar/avsluta", {"bekrafta": "ja"})
        assert "är stängd." in closed.text
        assert "Din brevlåda är stängd" in closed.text
        assert "Öppna brevlådan igen" in closed.text
        [status] = far_as_sender.is_reachable(EXEMPELKOMMUN, [person_id])
        assert status.account_type == "Not"
        with world.sessions() as session:
            assert not session.scalars(
                select(MailboxDelegation).where(MailboxDelegation.owner_id == person_id)
            ).all()
        assert str(visitor.get("/inkorg").url).endswith("/")  # no inbox to show

        reopened = visitor.register()
        assert "Före stängningen" in reopened.text
        [status] = far_as_sender.is_reachable(EXEMPELKOMMUN, [person_id])
        assert status.account_type == "Secure"


class TestErrorPages:
    def test_an_unknown_page_is_a_swedish_404(self, visit):
        page = visit().get("/finns-inte")
        assert page.status_code == 404
        assert "Sidan finns inte." in page.text
        assert "TESTLÄGE" in page.text
