r"""Distinguished names written as strings (X509SubjectName), read and compared as names.

Implementations write the same subject in many ways: RFC 4514 or RFC 2253 (`getName()` in
Java), RFC 1779 (quoted values, `;` between RDNs), .NET's `CN=A + SERIALNUMBER=1, O=A, C=SE`,
most specific first or last, attribute types as keywords in any case or as OIDs (with or
without `OID.`), values escaped (`\,`, `\c3\a5` for the UTF-8 bytes of å) or written as `#`
followed by the hex of their DER encoding (`2.5.4.5=#130c3136...`, Java's form for a type it
has no keyword for). A verifier must refuse only what is wrong, so the string is parsed and
compared with the certificate's subject attribute by attribute, each value the way X.500's
caseIgnoreMatch compares a DirectoryString (RFC 4518 preparation: case and insignificant
spaces do not count).

The name is only a hint beside the certificate; trust comes from the certificate chain and
the organisation number. It must still name the certificate's subject: a different value or
another set of attributes does not match.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from cryptography import x509

_SERIAL_NUMBER = "2.5.4.5"
_SURNAME = "2.5.4.4"
# "SN" is the surname in RFC 4519, OpenSSL and Windows, but the serial number in BouncyCastle.
_AMBIGUOUS_SN = "SN"

_KEYWORDS = {
    "CN": "2.5.4.3",
    "COMMONNAME": "2.5.4.3",
    "SURNAME": _SURNAME,
    "SERIALNUMBER": _SERIAL_NUMBER,
    "C": "2.5.4.6",
    "COUNTRYNAME": "2.5.4.6",
    "L": "2.5.4.7",
    "LOCALITYNAME": "2.5.4.7",
    "ST": "2.5.4.8",
    "S": "2.5.4.8",
    "STATEORPROVINCENAME": "2.5.4.8",
    "STREET": "2.5.4.9",
    "STREETADDRESS": "2.5.4.9",
    "O": "2.5.4.10",
    "ORGANIZATIONNAME": "2.5.4.10",
    "OU": "2.5.4.11",
    "ORGANIZATIONALUNITNAME": "2.5.4.11",
    "T": "2.5.4.12",
    "TITLE": "2.5.4.12",
    "DESCRIPTION": "2.5.4.13",
    "BUSINESSCATEGORY": "2.5.4.15",
    "POSTALCODE": "2.5.4.17",
    "G": "2.5.4.42",
    "GN": "2.5.4.42",
    "GIVENNAME": "2.5.4.42",
    "I": "2.5.4.43",
    "INITIALS": "2.5.4.43",
    "GENERATION": "2.5.4.44",
    "GENERATIONQUALIFIER": "2.5.4.44",
    "DNQ": "2.5.4.46",
    "DNQUALIFIER": "2.5.4.46",
    "PSEUDONYM": "2.5.4.65",
    "ORGANIZATIONIDENTIFIER": "2.5.4.97",
    "UID": "0.9.2342.19200300.100.1.1",
    "USERID": "0.9.2342.19200300.100.1.1",
    "DC": "0.9.2342.19200300.100.1.25",
    "DOMAINCOMPONENT": "0.9.2342.19200300.100.1.25",
    "E": "1.2.840.113549.1.9.1",
    "EMAIL": "1.2.840.113549.1.9.1",
    "EMAILADDRESS": "1.2.840.113549.1.9.1",
}
_KEYWORD = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_OID = re.compile(r"(?:[Oo][Ii][Dd]\.)?([0-9]+(?:\.[0-9]+)+)")
_HEX = frozenset("0123456789abcdefABCDEF")
_SPACES = " \t\r\n"
# DER string types a value written as `#hex` may have, and how their bytes read.
_DER_STRINGS = {
    0x0C: "utf-8",  # UTF8String
    0x12: "ascii",  # NumericString
    0x13: "ascii",  # PrintableString
    0x14: "latin-1",  # TeletexString (T61), read as Latin-1 as implementations do
    0x16: "ascii",  # IA5String
    0x1A: "ascii",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}
# RFC 4518 2.2: characters mapped to nothing before comparing.
_MAPPED_TO_NOTHING = dict.fromkeys(
    [
        *(0x00AD, 0x034F, 0x1806, 0x180B, 0x180C, 0x180D),
        *(0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0xFFFC),
        *range(0xFE00, 0xFE10),
    ]
)


class DistinguishedNameError(ValueError):
    """A string that cannot be read as a distinguished name; the message says why (Swedish)."""


Attribute = tuple[str, str]  # (type OID in dotted form, or "SN"; value)


def parse_distinguished_name(text: str) -> list[list[Attribute]]:
    """The RDNs of a DN string in the order written, each a list of (type OID, value).

    Raises:
        DistinguishedNameError: the string is not a distinguished name in any of the forms
            above; the message says where it goes wrong.
    """
    return _Parser(text).name()


def names_match(text: str, name: x509.Name) -> bool:
    """Whether a DN string names exactly the attributes of `name` (order and form aside).

    Raises:
        DistinguishedNameError: the string cannot be read as a distinguished name.
    """
    rdns = parse_distinguished_name(text)
    written = [(oid, prepare(value)) for rdn in rdns for oid, value in rdn]
    actual = Counter((item.oid.dotted_string, prepare(_value(item))) for item in name)
    ambiguous = []
    for oid, value in written:
        if oid == _AMBIGUOUS_SN:
            ambiguous.append(value)
        elif actual[(oid, value)] > 0:
            actual[(oid, value)] -= 1
        else:
            return False
    for value in ambiguous:
        for oid in (_SERIAL_NUMBER, _SURNAME):
            if actual[(oid, value)] > 0:
                actual[(oid, value)] -= 1
                break
        else:
            return False
    return not +actual


def prepare(value: str) -> str:
    """A DirectoryString value as caseIgnoreMatch compares it (RFC 4518, in short).

    Invisible characters are dropped, case is folded, compatibility forms are unified (NFKC),
    and spaces are insignificant: none at the ends, runs of them count as one.
    """
    mapped = "".join(
        " " if char.isspace() else char
        for char in value.translate(_MAPPED_TO_NOTHING)
        if char.isspace() or unicodedata.category(char) != "Cc"
    )
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", mapped).casefold())
    return " ".join(folded.split())


SHOWN_CHARACTERS = 120


def shown(text: str) -> str:
    """A name as a reason quotes it: its start only, so a reason never echoes megabytes."""
    if len(text) <= SHOWN_CHARACTERS:
        return repr(text)
    return repr(text[:SHOWN_CHARACTERS]) + f"… ({len(text)} tecken)"


def _value(attribute: x509.NameAttribute[str | bytes]) -> str:
    value = attribute.value
    return value.decode("latin-1") if isinstance(value, bytes) else value


class _Parser:
    """A small recursive-descent reader of the DN string grammars (RFC 4514, 2253, 1779)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> DistinguishedNameError:
        return DistinguishedNameError(f"{what} (vid tecken {self.pos + 1} i {shown(self.text)})")

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if not self.at_end() else ""

    def skip_spaces(self) -> None:
        while not self.at_end() and self.text[self.pos] in _SPACES:
            self.pos += 1

    def name(self) -> list[list[Attribute]]:
        rdns: list[list[Attribute]] = []
        self.skip_spaces()
        if self.at_end():
            raise self.fail("namnet är tomt")
        rdn: list[Attribute] = []
        while True:
            rdn.append(self.attribute())
            self.skip_spaces()
            if self.at_end():
                rdns.append(rdn)
                return rdns
            separator = self.text[self.pos]
            self.pos += 1
            if separator in ",;":
                rdns.append(rdn)
                rdn = []
            elif separator != "+":
                raise self.fail(f"väntade ',', ';' eller '+' men fann {separator!r}")

    def attribute(self) -> Attribute:
        self.skip_spaces()
        end = self.text.find("=", self.pos)
        if end < 0:
            raise self.fail("ett attribut saknar '='")
        written = self.text[self.pos : end].strip(_SPACES)
        self.pos = end + 1
        self.skip_spaces()
        return _attribute_type(written, self), self.value()

    def value(self) -> str:
        if self.peek() == "#":
            return self.hex_value()
        if self.peek() == '"':
            return self.quoted_value()
        return self.plain_value()

    def hex_value(self) -> str:
        self.pos += 1
        start = self.pos
        while not self.at_end() and self.text[self.pos] in _HEX:
            self.pos += 1
        digits = self.text[start : self.pos]
        if not digits or len(digits) % 2:
            raise self.fail("ett #-värde ska vara ett jämnt antal hexadecimala siffror")
        return _der_string(bytes.fromhex(digits), self)

    def quoted_value(self) -> str:
        self.pos += 1
        out = bytearray()
        while True:
            if self.at_end():
                raise self.fail("ett citerat värde saknar avslutande '\"'")
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return _utf8(out, self)
            if char == "\\":
                out += self.escape()
            else:
                out += char.encode("utf-8")
                self.pos += 1

    def plain_value(self) -> str:
        out = bytearray()
        kept = 0  # length of `out` up to its last character that is not an unescaped space
        while not self.at_end() and self.text[self.pos] not in ",;+":
            char = self.text[self.pos]
            if char == "\\":
                out += self.escape()
                kept = len(out)
                continue
            out += char.encode("utf-8")
            self.pos += 1
            if char not in _SPACES:
                kept = len(out)
        return _utf8(out[:kept], self)

    def escape(self) -> bytes:
        """A backslash and two hex digits (one byte), or any other character (itself)."""
        pair = self.text[self.pos + 1 : self.pos + 3]
        if len(pair) == 2 and set(pair) <= _HEX:  # noqa: PLR2004
            self.pos += 3
            return bytes.fromhex(pair)
        if self.pos + 1 >= len(self.text):
            raise self.fail("namnet slutar med ett ensamt '\\'")
        char = self.text[self.pos + 1]
        self.pos += 2
        return char.encode("utf-8")


def _attribute_type(written: str, parser: _Parser) -> str:
    oid = _OID.fullmatch(written)
    if oid is not None:
        return oid.group(1)
    if _KEYWORD.fullmatch(written) is None:
        raise parser.fail(f"{shown(written)} är ingen attributtyp")
    keyword = written.upper()
    if keyword == _AMBIGUOUS_SN:
        return _AMBIGUOUS_SN
    if keyword not in _KEYWORDS:
        raise parser.fail(f"attributtypen {shown(written)} är okänd; skriv den som OID")
    return _KEYWORDS[keyword]


def _der_string(der: bytes, parser: _Parser) -> str:
    """The text of a DER-encoded string value (tag, length, content), or an error."""
    if len(der) < 2:  # noqa: PLR2004
        raise parser.fail("#-värdet är för kort för att vara DER")
    tag, length, offset = der[0], der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:  # noqa: PLR2004
            raise parser.fail("#-värdet har en ogiltig DER-längd")
        length, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if len(der) != offset + length:
        raise parser.fail("#-värdets DER-längd stämmer inte med innehållet")
    if tag not in _DER_STRINGS:
        raise parser.fail(f"#-värdet är av ASN.1-typen 0x{tag:02x}, som inte är en sträng")
    try:
        return der[offset:].decode(_DER_STRINGS[tag])
    except UnicodeDecodeError:
        raise parser.fail("#-värdets tecken går inte att läsa i sin strängtyp") from None


def _utf8(data: bytes | bytearray, parser: _Parser) -> str:
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise parser.fail("ett värde med \\-kodade byte är inte giltig UTF-8") from None
