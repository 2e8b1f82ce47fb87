"""Reading officers' e-mails as letters: Outlook's and Thunderbird's MIME, numbers, refusals."""

import pytest

from support.officer_mail import DOCX, EXE, PDF, PNG, outlook_mail, thunderbird_mail
from utskick.desk.mailin.html_text import ActiveHtmlError, html_to_text
from utskick.desk.mailin.parsing import (
    MailRefusedError,
    identity_in_address,
    identity_in_subject,
    letter_from_mail,
    read_message,
)

DOMAIN = "brev.exempelkommun.se"
HANS = "handlaggare@exempelkommun.se"
TEXT = "Hej Tolvan!\n\nDu har beviljats färdtjänst från den 1 januari.\n\nMed vänlig hälsning\nHans"


def letter(raw, to=f"191212121212@{DOMAIN}"):
    return letter_from_mail(read_message(raw), to)


def refusal(raw, to=f"191212121212@{DOMAIN}"):
    with pytest.raises(MailRefusedError) as caught:
        letter(raw, to)
    return caught.value


# --- the recipient ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "local_part",
    ["191212121212", "19121212-1212", "121212-1212", "1212121212", "121212+1212", "5566778899"],
)
def test_a_number_in_the_local_part_is_the_recipient_as_typed(local_part):
    assert identity_in_address(f"{local_part}@{DOMAIN}") == local_part


def test_a_local_part_that_is_no_number_means_the_number_is_in_the_subject():
    assert identity_in_address(f"brev@{DOMAIN}") is None
    assert identity_in_address(f"Brev.Till.Mottagare@{DOMAIN}") is None


@pytest.mark.parametrize(
    ("local_part", "problem"),
    [
        ("191212121213", "kontrollsiffran stämmer inte"),
        ("19121312-1212", "datumet finns inte"),
        ("1912121212123", "fel längd"),
    ],
)
def test_a_wrong_number_in_the_local_part_says_what_is_wrong(local_part, problem):
    with pytest.raises(MailRefusedError) as caught:
        identity_in_address(f"{local_part}@{DOMAIN}")
    assert problem in caught.value.reason
    assert "adressen" in caught.value.reason


@pytest.mark.parametrize(
    ("subject", "typed", "rest"),
    [
        ("19121212-1212 Beslut om färdtjänst", "19121212-1212", "Beslut om färdtjänst"),
        ("191212121212: Beslut om färdtjänst", "191212121212", "Beslut om färdtjänst"),
        ("Beslut om färdtjänst (121212-1212)", "121212-1212", "Beslut om färdtjänst"),
        ("Kallelse [19121212 1212] till möte", "19121212 1212", "Kallelse till möte"),
        ("Beslut 2026-12-07 för 19121212-1212", "19121212-1212", "Beslut 2026-12-07 för"),
    ],
)
def test_the_first_number_in_the_subject_is_the_recipient_and_leaves_the_subject(
    subject, typed, rest
):
    assert identity_in_subject(subject) == (typed, rest)


def test_a_subject_without_a_number_refuses_the_mail_with_how_to_name_the_recipient():
    with pytest.raises(MailRefusedError) as caught:
        identity_in_subject("Beslut om färdtjänst, dnr 2026/1234")
    assert "personnummer" in caught.value.reason
    assert "191212121212@" in caught.value.reason


def test_a_wrong_number_in_the_subject_is_not_skipped_for_a_later_one():
    with pytest.raises(MailRefusedError) as caught:
        identity_in_subject("19121212-1213 och 19121212-1212")
    assert "kontrollsiffran stämmer inte" in caught.value.reason


# --- Outlook ---------------------------------------------------------------------------------


def test_outlook_html_mail_with_logo_and_encoded_pdf_name_becomes_the_letter():
    raw = outlook_mail(
        sender=HANS,
        to=f"19121212-1212@{DOMAIN}",
        subject="Beslut om färdtjänst – bilaga",
        text=TEXT,
        attachments=(("Beslut färdtjänst Tolvan Tolvansson.pdf", PDF, "application/pdf"),),
    )
    read = letter(raw, f"19121212-1212@{DOMAIN}")
    assert read.recipient == "19121212-1212"
    assert read.subject == "Beslut om färdtjänst – bilaga"
    assert read.body == TEXT  # the plain alternative, quoted-printable decoded
    [attachment] = read.attachments  # the inline logo shown by the HTML is left out
    assert attachment.filename == "Beslut färdtjänst Tolvan Tolvansson.pdf"
    assert attachment.content == PDF


def test_outlook_pdf_sent_as_octet_stream_is_taken_by_its_content():
    raw = outlook_mail(
        sender=HANS,
        to="x",
        subject="Beslut",
        text=TEXT,
        attachments=(("beslut", PDF, "application/octet-stream"),),
    )
    [attachment] = letter(raw).attachments
    assert attachment.filename == "beslut.pdf"
    assert attachment.content_type == "application/pdf"


def test_an_html_only_mail_gives_its_text():
    raw = outlook_mail(sender=HANS, to="x", subject="Beslut", text=TEXT, logo=False)
    message = read_message(raw)
    for part in list(message.walk()):
        if part.get_content_type() == "multipart/alternative":
            part.set_payload([p for p in part.get_payload() if p.get_content_subtype() == "html"])
    read = letter_from_mail(message, f"191212121212@{DOMAIN}")
    assert read.body.startswith("Hej Tolvan!\n\nDu har beviljats färdtjänst")
    assert "MsoNormal" not in read.body
    assert "shapedefaults" not in read.body


@pytest.mark.parametrize(
    ("name", "content", "content_type", "kind"),
    [
        ("program.exe", EXE, "application/x-msdownload", ".exe-fil"),
        ("Beslut.docx", DOCX, "application/vnd.openxmlformats-officedocument", ".docx-fil"),
        ("foto.png", PNG, "image/png", ".png-fil"),
        ("falsk.pdf", EXE, "application/pdf", ".pdf-fil"),
    ],
)
def test_any_attachment_that_is_no_pdf_refuses_the_whole_mail(name, content, content_type, kind):
    raw = outlook_mail(
        sender=HANS,
        to="x",
        subject="Beslut",
        text=TEXT,
        attachments=(("beslut.pdf", PDF, "application/pdf"), (name, content, content_type)),
    )
    refused = refusal(raw)
    assert f"bilaga 2 ({kind}) är ingen PDF-fil" in refused.reason
    assert name not in refused.reason  # names may say what the letter is about
    assert refused.recipient == "191212121212"


def test_winmail_dat_says_how_to_change_outlooks_format():
    raw = outlook_mail(
        sender=HANS,
        to="x",
        subject="Beslut",
        text=TEXT,
        attachments=(("winmail.dat", b"\x78\x9f\x3e\x22", "application/ms-tnef"),),
    )
    assert "RTF" in refusal(raw).reason


def test_an_inline_image_the_html_does_not_show_is_an_attachment_and_refused():
    html = "<html><body><p>Hej</p></body></html>"  # no cid: reference to the logo
    raw = outlook_mail(sender=HANS, to="x", subject="Beslut", text=TEXT, html=html)
    assert "bilaga 1 (.png-fil)" in refusal(raw).reason


@pytest.mark.parametrize(
    ("html", "finding"),
    [
        ("<p>Hej</p><script>alert(1)</script>", "<script>"),
        ('<p onclick="steal()">Hej</p>', "onclick"),
        ('<a href=" JaVa&#x09;Script:alert(1)">länk</a>', "javascript:"),
        ("<iframe src='https://example.org'></iframe>", "<iframe>"),
        ("<!--[if IE]><script>alert(1)</script><![endif]--><p>Hej</p>", "kommentar"),
        ('<img src="x" onerror="x()">', "onerror"),
    ],
)
def test_html_that_could_run_something_refuses_the_mail_even_beside_a_plain_part(html, finding):
    raw = outlook_mail(sender=HANS, to="x", subject="Beslut", text=TEXT, html=html, logo=False)
    refused = refusal(raw)
    assert finding in refused.reason
    assert "köra kod" in refused.reason


def test_a_missing_subject_is_refused():
    raw = outlook_mail(sender=HANS, to="x", subject="   ", text=TEXT)
    assert "ämnesrad" in refusal(raw).reason


def test_a_subject_that_is_only_the_number_is_refused():
    raw = outlook_mail(sender=HANS, to="x", subject="19121212-1212", text=TEXT)
    refused = refusal(raw, f"brev@{DOMAIN}")
    assert "ämnesrad" in refused.reason
    assert refused.recipient == "19121212-1212"


def test_an_attached_email_is_refused():
    inner = thunderbird_mail(sender=HANS, to="a@b.se", subject="Hej", text="Hej")
    raw = outlook_mail(
        sender=HANS,
        to="x",
        subject="Beslut",
        text=TEXT,
        attachments=(("vidarebefordrat.eml", inner, "message/rfc822"),),
    )
    assert "annat e-brev" in refusal(raw).reason


# --- Thunderbird -----------------------------------------------------------------------------


def test_thunderbird_flowed_text_and_rfc2231_names_with_the_number_in_the_subject():
    text = (
        "Hej!\n\nHär kommer beslutet om bygglov för din fastighet på Tolvgatan 12, som du "
        "ansökte om i oktober. Beslutet vinner laga kraft om tre veckor.\n\n-- \nBerit Bygglov"
    )
    name = "Beslut om bygglov för Tolvgatan 12 med ritningar och villkor (slutlig).pdf"
    raw = thunderbird_mail(
        sender="bygglov@exempelkommun.se",
        to=f"brev@{DOMAIN}",
        subject="19121212-1212: Beslut om bygglov – Tolvgatan 12",
        text=text,
        attachments=((name, PDF, "application/pdf"),),
    )
    assert b"format=flowed" in raw
    assert b"filename*1*=" in raw
    read = letter(raw, f"brev@{DOMAIN}")
    assert read.recipient == "19121212-1212"
    assert read.subject == "Beslut om bygglov – Tolvgatan 12"
    assert read.body == text.replace("-- \n", "--\n")  # soft line breaks joined back
    assert [a.filename for a in read.attachments] == [name]


def test_thunderbird_plain_mail_without_attachments():
    raw = thunderbird_mail(sender=HANS, to="x", subject="Kallelse till möte", text="Välkommen!")
    read = letter(raw)
    assert (read.subject, read.body, read.attachments) == ("Kallelse till möte", "Välkommen!", ())


# --- HTML as text ----------------------------------------------------------------------------


def test_html_paragraphs_breaks_and_lists_become_lines():
    html = (
        "<html><head><title>x</title><style>p{}</style></head><body>"
        "<div>Hej&nbsp;Tolvan,</div><p>rad ett<br>rad   två</p>"
        "<ul><li>ett</li><li>två</li></ul><table><tr><td>a</td><td>b</td></tr></table>"
        '<p><img src="cid:logo@x"></p></body></html>'
    )
    read = html_to_text(html)
    assert read.text == "Hej Tolvan,\n\nrad ett\nrad två\n\n- ett\n\n- två\n\na b"
    assert read.content_ids == {"logo@x"}


def test_active_html_error_names_what_was_found():
    with pytest.raises(ActiveHtmlError) as caught:
        html_to_text('<form action="javascript:x()"></form>')
    assert "javascript:" in caught.value.finding
