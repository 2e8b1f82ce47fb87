"""X509SubjectName is compared as a distinguished name, the way real senders write it.

The writers below are the tests' own, after the forms other implementations produce (RFC
4514, Java's `getName()` in RFC 2253 with `#`-hex values, .NET, RFC 1779 with quotes and `;`,
OIDs with and without `OID.`); none of them uses the parser under test.
"""

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from utskick.mm import namespaces as ns
from utskick.mm.distinguished_names import (
    DistinguishedNameError,
    names_match,
    parse_distinguished_name,
)
from utskick.mm.keys import format_subject, subject_name_matches
from utskick.mm.signing import seal_delivery, sign_and_seal, sign_delivery
from utskick.mm.soap import deliver_secure_request
from utskick.mm.verification import TrustStore, VerificationError, VerificationPolicy
from utskick.mm.verification import verify_sealed_delivery as verify

from .test_verification_signed_content import letter

DS = f"{{{ns.DSIG}}}"
EXEMPELKOMMUN = x509.Name(
    [
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "SE")]),
        x509.RelativeDistinguishedName(
            [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Exempelkommun")]
        ),
        x509.RelativeDistinguishedName(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "Exempelkommun"),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, "162021004748"),
            ]
        ),
    ]
)

# --- the tests' own writers ---------------------------------------------------------------

KEYWORDS_4514 = {
    "2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.6": "C", "2.5.4.9": "STREET",
}  # fmt: skip
KEYWORDS_DOTNET = KEYWORDS_4514 | {"2.5.4.5": "SERIALNUMBER", "2.5.4.8": "S"}
PRINTABLE_TYPES = {"2.5.4.6", "2.5.4.5"}


def _der(oid, value):
    data = value.encode("ascii" if oid in PRINTABLE_TYPES else "utf-8")
    tag = 0x13 if oid in PRINTABLE_TYPES else 0x0C
    length = bytes([len(data)]) if len(data) < 0x80 else bytes([0x81, len(data)])
    return "#" + (bytes([tag]) + length + data).hex()


def _escape(value, specials=',+"\\<>;='):
    escaped = "".join("\\" + c if c in specials else c for c in value)
    if escaped.startswith((" ", "#")):
        escaped = "\\" + escaped
    if escaped.endswith(" ") and not escaped.endswith("\\ "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def _rdns(name, *, forward=False):
    rdns = list(name.rdns)
    return rdns if forward else list(reversed(rdns))


def java_get_name(name):
    """RFC 2253 as Java's X500Principal.getName(): no spaces, OIDs with #DER for the rest."""
    return ",".join(
        "+".join(
            f"{KEYWORDS_4514[a.oid.dotted_string]}={_escape(a.value)}"
            if a.oid.dotted_string in KEYWORDS_4514
            else f"{a.oid.dotted_string}={_der(a.oid.dotted_string, a.value)}"
            for a in rdn
        )
        for rdn in _rdns(name)
    )


def dotnet(name):
    """As .NET and the real sample write it: `CN=A + SERIALNUMBER=1, O=A, C=SE`."""
    return ", ".join(
        " + ".join(
            f"{KEYWORDS_DOTNET.get(a.oid.dotted_string, 'OID.' + a.oid.dotted_string)}="
            f"{_escape(a.value)}"
            for a in rdn
        )
        for rdn in _rdns(name)
    )


def rfc1779_forward(name):
    """Least specific first, `;` between RDNs, quoted values, lower-case keywords, oid.x."""

    def quoted(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return " ; ".join(
        " + ".join(
            f"{KEYWORDS_4514[a.oid.dotted_string].lower()} = {quoted(a.value)}"
            if a.oid.dotted_string in KEYWORDS_4514
            else f"oid.{a.oid.dotted_string}={quoted(a.value)}"
            for a in reversed(list(rdn))
        )
        for rdn in _rdns(name, forward=True)
    )


def hex_escaped(name):
    """Every non-ASCII character as `\\xx` escapes of its UTF-8 bytes, keywords in any case."""

    def escaped(value):
        return "".join(
            "".join(f"\\{b:02x}" for b in char.encode()) if ord(char) > 127 else char
            for char in _escape(value)
        )

    return ",".join(
        "+".join(
            f"{KEYWORDS_DOTNET.get(a.oid.dotted_string, a.oid.dotted_string).capitalize()}"
            f"={escaped(a.value)}"
            for a in rdn
        )
        for rdn in _rdns(name)
    )


def all_der_upper_case(name):
    """Every value as #DER, types as OIDs, values' case changed (caseIgnoreMatch)."""
    return ", ".join(
        "+".join(f"{a.oid.dotted_string}={_der(a.oid.dotted_string, a.value.upper())}" for a in rdn)
        for rdn in _rdns(name)
    )


def spaced_out(name):
    """RFC 4514 with spaces around every separator and runs of spaces inside values."""
    return " ,  ".join(
        "  +  ".join(
            f" {KEYWORDS_DOTNET.get(a.oid.dotted_string, a.oid.dotted_string)} = "
            f"{_escape(a.value.replace(' ', '   '))}  "
            for a in rdn
        )
        for rdn in _rdns(name)
    )


WRITERS = {
    "rfc4514 (cryptography)": lambda name: name.rfc4514_string(),
    "utskick format_subject": format_subject,
    "java getName": java_get_name,
    ".NET": dotnet,
    "rfc1779 forward": rfc1779_forward,
    "hex escapes": hex_escaped,
    "all #DER upper case": all_der_upper_case,
    "spaced out": spaced_out,
}

# --- generated names ------------------------------------------------------------------------

TEXT = st.text(
    alphabet=st.sampled_from('abcdefghijklmnopqrstuvwxyzABCDEFGHXYZåäöÅÄÖéü0123456789 ,+"\\<>;=#-'),
    min_size=1,
    max_size=20,
).filter(lambda value: value.strip() and "  " not in value)
DIGITS = st.text(alphabet="0123456789", min_size=6, max_size=12)
ATTRIBUTES = st.one_of(
    st.tuples(
        st.sampled_from(
            [
                NameOID.COMMON_NAME,
                NameOID.ORGANIZATION_NAME,
                NameOID.ORGANIZATIONAL_UNIT_NAME,
                NameOID.LOCALITY_NAME,
                NameOID.STATE_OR_PROVINCE_NAME,
                NameOID.STREET_ADDRESS,
            ]
        ),
        TEXT,
    ),
    st.tuples(st.just(NameOID.COUNTRY_NAME), st.sampled_from(["SE", "NO", "FI", "DK"])),
    st.tuples(st.just(NameOID.SERIAL_NUMBER), DIGITS),
    st.tuples(st.just(NameOID.ORGANIZATION_IDENTIFIER), DIGITS.map(lambda d: "VATSE-" + d)),
).map(lambda pair: x509.NameAttribute(*pair))
NAMES = st.lists(
    st.lists(ATTRIBUTES, min_size=1, max_size=2, unique_by=lambda a: a.oid.dotted_string).map(
        x509.RelativeDistinguishedName
    ),
    min_size=1,
    max_size=5,
).map(x509.Name)


@settings(max_examples=300, deadline=None)
@given(name=NAMES, writer=st.sampled_from(sorted(WRITERS)))
def test_every_way_of_writing_a_name_matches_it(name, writer):
    written = WRITERS[writer](name)
    assert names_match(written, name), written


@settings(max_examples=200, deadline=None)
@given(name=NAMES, writer=st.sampled_from(sorted(WRITERS)), data=st.data())
def test_a_changed_value_does_not_match(name, writer, data):
    attributes = list(name)
    index = data.draw(st.integers(0, len(attributes) - 1))
    changed = [
        x509.NameAttribute(a.oid, a.value + ("X" if a.oid != NameOID.COUNTRY_NAME else ""))
        if i == index else a
        for i, a in enumerate(attributes)
    ]  # fmt: skip
    if changed[index].oid == NameOID.COUNTRY_NAME:
        changed[index] = x509.NameAttribute(NameOID.COUNTRY_NAME, "US")
    other = x509.Name([x509.RelativeDistinguishedName([a]) for a in changed])
    assert not names_match(WRITERS[writer](other), name)


@settings(max_examples=200, deadline=None)
@given(name=NAMES, extra=ATTRIBUTES, writer=st.sampled_from(sorted(WRITERS)))
def test_another_set_of_attributes_does_not_match(name, extra, writer):
    more = x509.Name([*name.rdns, x509.RelativeDistinguishedName([extra])])
    assert not names_match(WRITERS[writer](more), name)
    if len(name.rdns) > 1:
        fewer = x509.Name(name.rdns[1:])
        assert not names_match(WRITERS[writer](fewer), name)


@settings(max_examples=100, deadline=None)
@given(name=NAMES)
def test_the_same_value_under_another_type_does_not_match(name):
    first = next(iter(name))
    swapped_oid = NameOID.PSEUDONYM if first.oid != NameOID.PSEUDONYM else NameOID.TITLE
    attributes = [x509.NameAttribute(swapped_oid, first.value), *list(name)[1:]]
    other = x509.Name([x509.RelativeDistinguishedName([a]) for a in attributes])
    assert not names_match(other.rfc4514_string(), name)


class TestForms:
    @pytest.mark.parametrize(
        "written",
        [
            "2.5.4.5=#130c313632303231303034373438+CN=Exempelkommun,O=Exempelkommun,C=SE",
            "CN=Exempelkommun + SERIALNUMBER=162021004748, O=Exempelkommun, C=SE",
            "SERIALNUMBER=162021004748+CN=Exempelkommun,O=Exempelkommun,C=SE",
            "C=SE, O=Exempelkommun, CN=Exempelkommun+SERIALNUMBER=162021004748",
            "C=SE; O=Exempelkommun; CN=Exempelkommun + serialNumber=162021004748",
            "OID.2.5.4.5=162021004748 + cn=EXEMPELKOMMUN, o=exempelkommun, c=se",
            "oid.2.5.4.6=SE,2.5.4.10=Exempelkommun,2.5.4.3=Exempelkommun+2.5.4.5=162021004748",
            'CN="Exempelkommun"+SERIALNUMBER="162021004748",O="Exempelkommun",C="SE"',
            "CN=Exempel\\6bommun+SERIALNUMBER=162021004748,O=Exempelkommun,C=SE",
            "CN=#0c0d4578656d70656c6b6f6d6d756e+SERIALNUMBER=162021004748,O=Exempelkommun,C=SE",
            "  CN = Exempelkommun  +  SERIALNUMBER = 162021004748 ,O=Exempelkommun ,C=SE  ",
            "CN=Exempelkommun,SERIALNUMBER=162021004748,O=Exempelkommun,C=SE",
        ],
    )
    def test_exempelkommun_written_as_real_senders_write_it(self, written):
        assert subject_name_matches(written, EXEMPELKOMMUN)

    @pytest.mark.parametrize(
        "written",
        [
            "CN=Exempelkommun + SERIALNUMBER=162021009903, O=Exempelkommun, C=SE",
            "2.5.4.5=#130c313632303231303039393033+CN=Exempelkommun,O=Exempelkommun,C=SE",
            "CN=Exempelkommun, O=Exempelkommun, C=SE",
            "CN=Exempelkommun + SERIALNUMBER=162021004748, O=Exempelkommun, C=SE, L=Ort",
            "CN=Exempelkommun + SERIALNUMBER=162021004748, OU=Exempelkommun, C=SE",
            "CN=Exempel kommun + SERIALNUMBER=162021004748, O=Exempelkommun, C=SE",
            "CN=Exempelkommun + SERIALNUMBER=162021004748, O=Exempelkommun, C=NO",
        ],
    )
    def test_a_name_of_another_subject_does_not_match(self, written):
        assert not subject_name_matches(written, EXEMPELKOMMUN)

    def test_escapes_quotes_and_utf8_hex_read_as_the_same_value(self):
        name = x509.Name([x509.RelativeDistinguishedName(
            [x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Kommun, "Å" + \\ Ö')]
        )])  # fmt: skip
        for written in (
            'O=Kommun\\, \\"Å\\" \\+ \\\\ Ö',
            "O=Kommun\\2c \\22\\c3\\85\\22 \\2b \\5c \\c3\\96",
            'O="Kommun, \\"Å\\" + \\\\ Ö"',
            "O=" + _der("2.5.4.10", 'Kommun, "Å" + \\ Ö'),
            'O=kommun,  "å" + \\\\  ö'.replace(",", "\\,").replace("+", "\\+").replace('"', '\\"'),
        ):
            assert names_match(written, name), written

    def test_der_string_types_are_decoded(self):
        name = x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(
            NameOID.COMMON_NAME, "Åsa")])])  # fmt: skip
        for der in (
            "0c04c38573 61",
            "1e06 00c5 0073 0061",
            "1403c57361",
            "1c0c000000c5000000730000 0061",
        ):
            assert names_match("CN=#" + der.replace(" ", ""), name), der

    @pytest.mark.parametrize(
        ("written", "why"),
        [
            ("", "tomt"),
            ("CN", "saknar '='"),
            ("CN=A,,O=B", "ingen attributtyp"),
            ("XYZ=A", "okänd"),
            ("CN=#0c05416e6e61", "DER-längd"),
            ("CN=#020101", "inte är en sträng"),
            ("CN=#0c0", "jämnt antal"),
            ('CN="A', "avslutande"),
            ("CN=\\ff\\fe", "UTF-8"),
            ("CN=A B", None),
        ],
    )
    def test_what_is_not_a_name_says_why(self, written, why):
        if why is None:
            assert parse_distinguished_name(written) == [[("2.5.4.3", "A B")]]
            return
        with pytest.raises(DistinguishedNameError, match=why):
            parse_distinguished_name(written)
        assert not subject_name_matches(written, EXEMPELKOMMUN)

    def test_sn_is_read_as_serial_number_or_surname(self):
        assert subject_name_matches(
            "CN=Exempelkommun + SN=162021004748, O=Exempelkommun, C=SE", EXEMPELKOMMUN
        )


class TestInVerification:
    @pytest.fixture
    def sealed(self, sender, intermediary, today):
        return sign_and_seal(letter(), sender, intermediary, received_on=today)

    @pytest.fixture
    def policy(self, authority):
        return VerificationPolicy(TrustStore.of([authority.certificate]), dt.datetime.now(dt.UTC))

    @pytest.mark.parametrize("writer", sorted(WRITERS))
    def test_a_subject_name_in_another_form_verifies(
        self, sender, intermediary, today, policy, writer
    ):
        # The sender's KeyInfo is sealed, so it is rewritten before the seal is made.
        signed = sign_delivery(letter(), sender)
        self._rewrite(signed[-1], WRITERS[writer])
        sealed = seal_delivery(signed, intermediary, received_on=today)
        self._rewrite(sealed[-1], WRITERS[writer])
        verified = verify(deliver_secure_request(sealed), policy)
        assert verified.sealer_organisation == "2021009903"
        assert verified.sender_organisation == "2021004748"

    def test_a_subject_name_of_another_subject_is_refused(self, sealed, policy):
        sealed[-1].find(
            f".//{DS}X509SubjectName"
        ).text = "2.5.4.5=#130c313632303231303034373438+CN=Grannkommun,O=Grannkommun,C=SE"
        with pytest.raises(VerificationError, match="X509SubjectName stämmer inte"):
            verify(deliver_secure_request(sealed), policy)

    def test_a_subject_name_that_is_no_name_says_so(self, sealed, policy):
        sealed[-1].find(f".//{DS}X509SubjectName").text = "Grannkommun"
        with pytest.raises(VerificationError, match="går inte att läsa som ett namn"):
            verify(deliver_secure_request(sealed), policy)

    @staticmethod
    def _rewrite(signature, writer):
        der = base64.b64decode(signature.find(f".//{DS}X509Certificate").text)
        subject = x509.load_der_x509_certificate(der).subject
        signature.find(f".//{DS}X509SubjectName").text = writer(subject)


def test_the_writers_write_what_they_claim():
    assert java_get_name(EXEMPELKOMMUN) in (
        "CN=Exempelkommun+2.5.4.5=#130c313632303231303034373438,O=Exempelkommun,C=SE",
        "2.5.4.5=#130c313632303231303034373438+CN=Exempelkommun,O=Exempelkommun,C=SE",
    )
    assert dotnet(EXEMPELKOMMUN) in (
        "CN=Exempelkommun + SERIALNUMBER=162021004748, O=Exempelkommun, C=SE",
        "SERIALNUMBER=162021004748 + CN=Exempelkommun, O=Exempelkommun, C=SE",
    )


@pytest.mark.parametrize(
    "written",
    [
        pytest.param('CN="' + "a" * 1_000_000, id="unterminated-quote"),
        pytest.param("A" * 1_000_000 + "=x", id="unknown-attribute-type"),
        pytest.param("CN=#" + "a" * 1_000_001, id="odd-hex"),
    ],
)
def test_a_reason_quotes_only_the_start_of_a_huge_name(written):
    # The reason ends up in a SOAP fault and a log line: it must not echo a megabyte.
    with pytest.raises(DistinguishedNameError) as refused:
        parse_distinguished_name(written)
    assert len(str(refused.value)) < 400
    assert "tecken)" in str(refused.value)
