"""E-mails as officers' clients write them, byte for byte in their shapes, for the e-mail way in.

Outlook (Microsoft 365, HTML mail with a signature logo) writes multipart/mixed around
multipart/related around multipart/alternative, text parts in quoted-printable, the subject
RFC 2047 base64-encoded, attachment names RFC 2047-encoded inside quoted parameters, and the
logo as an inline image referenced by `cid:`. Thunderbird (plain text) writes a flowed
text/plain part (`format=flowed`, lines broken with a trailing space), the subject as RFC 2047
"Q", and long or non-ASCII attachment names as RFC 2231 continuations (`filename*0*=…`).
"""

from __future__ import annotations

import base64
import quopri
import textwrap
import uuid
from email.header import Header

from utskick.entrypoints.benchmarks.signing import minimal_pdf

PDF = minimal_pdf(1200)
# The smallest PNG: a signature logo stands in.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
DOCX = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"\x00" * 64

CRLF = "\r\n"


def _b64_lines(data: bytes) -> str:
    return CRLF.join(textwrap.wrap(base64.b64encode(data).decode("ascii"), 76))


def _qp(text: str) -> str:
    encoded = quopri.encodestring(text.encode("utf-8")).decode("ascii")
    return encoded.replace("\n", CRLF)


def _b_word(text: str) -> str:
    return f"=?utf-8?B?{base64.b64encode(text.encode()).decode('ascii')}?="


def new_message_id(host: str = "EXEMPELKOMMUN.SE") -> str:
    return f"<{uuid.uuid4().hex.upper()}@{host}>"


def outlook_mail(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: tuple[tuple[str, bytes, str], ...] = (),
    message_id: str | None = None,
    logo: bool = True,
    extra_headers: str = "",
) -> bytes:
    """An HTML e-mail as Outlook sends it: attachments are (name, bytes, content type)."""
    html = html or (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "<style><!-- p.MsoNormal {margin:0cm; font-size:11.0pt;} --></style>"
        '<!--[if gte mso 9]><xml><o:shapedefaults v:ext="edit" spidmax="1026" /></xml>'
        '<![endif]--></head><body lang="SV">'
        + "".join(
            f'<p class="MsoNormal">{line or "<o:p>&nbsp;</o:p>"}<o:p></o:p></p>'
            for line in text.split("\n")
        )
        + (
            '<p class="MsoNormal"><img width="120" height="40" src="cid:image001.png@01DB4A2E.5C3F1E20" '
            'alt="Exempelkommun"></p>'
            if logo
            else ""
        )
        + "</body></html>"
    )
    alternative = (
        f'--alt{CRLF}Content-Type: text/plain; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}{_qp(text)}{CRLF}"
        f'--alt{CRLF}Content-Type: text/html; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}{_qp(html)}{CRLF}--alt--{CRLF}"
    )
    related = (
        f'--rel{CRLF}Content-Type: multipart/alternative; boundary="alt"{CRLF}{CRLF}{alternative}'
    )
    if logo:
        related += (
            f'--rel{CRLF}Content-Type: image/png; name="image001.png"{CRLF}'
            f"Content-Description: image001.png{CRLF}"
            f'Content-Disposition: inline; filename="image001.png"; size={len(PNG)}{CRLF}'
            f"Content-ID: <image001.png@01DB4A2E.5C3F1E20>{CRLF}"
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{_b64_lines(PNG)}{CRLF}"
        )
    related += f"--rel--{CRLF}"
    body = (
        f'--mix{CRLF}Content-Type: multipart/related; boundary="rel"; '
        f'type="multipart/alternative"{CRLF}{CRLF}{related}'
    )
    for name, content, content_type in attachments:
        encoded = _b_word(name)
        body += (
            f'--mix{CRLF}Content-Type: {content_type}; name="{encoded}"{CRLF}'
            f"Content-Description: {encoded}{CRLF}"
            f'Content-Disposition: attachment; filename="{encoded}"; size={len(content)}{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{_b64_lines(content)}{CRLF}"
        )
    body += f"--mix--{CRLF}"
    headers = f"From: {Header('Hans Handläggare', 'utf-8').encode()} <{sender}>{CRLF}"
    headers += (
        f'To: "{to}" <{to}>{CRLF}'
        f"Subject: {_b_word(subject)}{CRLF}"
        f"Thread-Topic: {_b_word(subject)}{CRLF}"
        f"Date: Mon, 7 Dec 2026 10:15:00 +0000{CRLF}"
        f"Message-ID: {message_id or new_message_id()}{CRLF}"
        f"Accept-Language: sv-SE, en-US{CRLF}Content-Language: sv-SE{CRLF}"
        f"X-MS-Has-Attach: {'yes' if attachments else ''}{CRLF}"
        f"X-Mailer: Microsoft Outlook 16.0{CRLF}"
        f"MIME-Version: 1.0{CRLF}{extra_headers}"
        f'Content-Type: multipart/mixed; boundary="mix"{CRLF}{CRLF}'
    )
    return (headers + body).encode("ascii")


def _rfc2231_name(parameter: str, name: str) -> str:
    """`filename*0*=UTF-8''…; filename*1*=…` as Thunderbird writes long or non-ASCII names."""
    quoted = "".join(
        chr(byte)
        if chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in ".-_")
        else f"%{byte:02X}"
        for byte in name.encode("utf-8")
    )
    pieces = textwrap.wrap(quoted, 40, break_on_hyphens=False) or [""]
    first = f"{parameter}*0*=UTF-8''{pieces[0]}"
    rest = [f"{parameter}*{index}*={piece}" for index, piece in enumerate(pieces[1:], start=1)]
    return (";" + CRLF + " ").join([first, *rest])


def _flowed(text: str) -> str:
    """Text as format=flowed: long lines broken after a space, kept as a soft break."""
    lines = []
    for paragraph in text.split("\n"):
        wrapped = textwrap.wrap(paragraph, 40, drop_whitespace=False) or [""]
        lines.extend(wrapped)
    return CRLF.join(lines)


def thunderbird_mail(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    attachments: tuple[tuple[str, bytes, str], ...] = (),
    message_id: str | None = None,
) -> bytes:
    """A plain-text e-mail as Thunderbird sends it: flowed text, RFC 2231 file names."""
    text_part = (
        f"Content-Type: text/plain; charset=UTF-8; format=flowed{CRLF}"
        f"Content-Transfer-Encoding: 8bit{CRLF}{CRLF}{_flowed(text)}{CRLF}"
    )
    headers = (
        f"Message-ID: {message_id or new_message_id('exempelkommun.se')}{CRLF}"
        f"Date: Mon, 7 Dec 2026 11:20:00 +0100{CRLF}"
        f"MIME-Version: 1.0{CRLF}"
        f"User-Agent: Mozilla Thunderbird{CRLF}Content-Language: sv-SE{CRLF}"
        f"To: {to}{CRLF}"
        f"From: Berit Bygglov <{sender}>{CRLF}"
        f"Subject: {Header(subject, 'utf-8').encode()}{CRLF}"
    )
    if not attachments:
        return (headers + text_part).encode("utf-8")
    body = f"This is a multi-part message in MIME format.{CRLF}--tb{CRLF}{text_part}"
    for name, content, content_type in attachments:
        body += (
            f"--tb{CRLF}Content-Type: {content_type}; {_rfc2231_name('name', name)}{CRLF}"
            f"Content-Disposition: attachment; {_rfc2231_name('filename', name)}{CRLF}"
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{_b64_lines(content)}{CRLF}"
        )
    body += f"--tb--{CRLF}"
    headers += f'Content-Type: multipart/mixed; boundary="tb"{CRLF}{CRLF}'
    return (headers + body).encode("utf-8")
