import datetime as dt
import re

import pytest

from utskick.mm.xml import UnsafeXMLError, XMLLimits, parse_untrusted, parse_xs_date


class TestHardenedParser:
    def test_plain_document_parses(self):
        assert parse_untrusted(b"<a><b>text</b></a>")[0].text == "text"

    def test_doctype_is_refused(self):
        with pytest.raises(UnsafeXMLError, match="DOCTYPE"):
            parse_untrusted(b"<!DOCTYPE a [<!ELEMENT a ANY>]><a/>")

    def test_external_entity_is_refused_and_never_read(self, tmp_path):
        secret = tmp_path / "secret.txt"
        secret.write_text("hemligt")
        document = (
            f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]><a>&x;</a>'
        ).encode()
        with pytest.raises(UnsafeXMLError, match="DOCTYPE") as caught:
            parse_untrusted(document)
        assert "hemligt" not in str(caught.value)

    def test_billion_laughs_is_refused(self):
        entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
        document = f'<!DOCTYPE lolz [<!ENTITY l0 "lol">{entities}]><lolz>&l9;</lolz>'.encode()
        with pytest.raises(UnsafeXMLError, match="DOCTYPE"):
            parse_untrusted(document)

    def test_oversized_input_is_refused_before_parsing(self):
        with pytest.raises(UnsafeXMLError, match="större än gränsen 100 byte"):
            parse_untrusted(b"<a>" + b"x" * 200 + b"</a>", XMLLimits(max_bytes=100))

    def test_too_deep_nesting_is_refused(self):
        document = b"<a>" * 100 + b"</a>" * 100
        with pytest.raises(UnsafeXMLError, match="djupare än 64 nivåer"):
            parse_untrusted(document)

    def test_nesting_at_the_limit_is_accepted(self):
        document = b"<a>" * 64 + b"</a>" * 64
        assert parse_untrusted(document).tag == "a"

    def test_malformed_input_says_so(self):
        with pytest.raises(UnsafeXMLError, match="inte välformad"):
            parse_untrusted(b"<a><b></a>")


class TestXsDate:
    @pytest.mark.parametrize(
        ("written", "date"),
        [
            ("2023-10-11", dt.date(2023, 10, 11)),
            ("2023-10-11Z", dt.date(2023, 10, 11)),
            ("2023-10-11+02:00", dt.date(2023, 10, 11)),
            ("2023-10-11-05:00", dt.date(2023, 10, 11)),
            ("2023-10-11+14:00", dt.date(2023, 10, 11)),
            ("2023-10-11-14:00", dt.date(2023, 10, 11)),
            ("2024-02-29+00:00", dt.date(2024, 2, 29)),
            ("\n 2023-10-11+01:00\t", dt.date(2023, 10, 11)),
        ],
    )
    def test_a_valid_date_with_or_without_an_offset_is_the_date_written(self, written, date):
        assert parse_xs_date(written) == date

    @pytest.mark.parametrize(
        ("written", "why"),
        [
            ("2023-13-01", "det datumet finns inte"),
            ("2023-02-29", "det datumet finns inte"),
            ("2023-10-11T10:00:00", "inget datum av typen xs:date"),
            ("2023-10-11+14:01", "mellan -14:00 och +14:00"),
            ("2023-10-11-15:00", "mellan -14:00 och +14:00"),
            ("2023-10-11+02:60", "mellan -14:00 och +14:00"),
            ("2023-10-11+0200", "inget datum av typen xs:date"),
            ("11/10/2023", "inget datum av typen xs:date"),
            ("", "inget datum av typen xs:date"),
            ("-2023-10-11", "år utanför"),
            ("12023-10-11", "år utanför"),
            ("２０２３-10-11", "inget datum av typen xs:date"),
        ],
    )
    def test_an_invalid_date_says_why(self, written, why):
        with pytest.raises(ValueError, match=re.escape(why)):
            parse_xs_date(written)
