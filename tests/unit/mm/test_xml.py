import pytest

from utskick.mm.xml import UnsafeXMLError, XMLLimits, parse_untrusted


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
