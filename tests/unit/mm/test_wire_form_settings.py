"""Choosing the wire form: per operator in the settings, and `utskick mm seal --wire-form`."""

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from utskick.entrypoints.cli import app
from utskick.mm.soap import WireForm
from utskick.relay.deliver import wire_form_for
from utskick.settings import Settings

SYD = "5569990012"
SYD_ADDRESS = "https://syd.example/service/v3"


def form(forms, address=SYD_ADDRESS, operator=SYD):
    return wire_form_for(Settings(operator_wire_forms=forms), address, operator)


class TestPerOperator:
    def test_without_a_setting_every_operator_gets_the_prefixed_form(self):
        assert form({}) == WireForm.PREFIXED

    @pytest.mark.parametrize("key", ["5569990012", "556999-0012", "165569990012"])
    def test_an_operator_named_by_its_organisationsnummer_in_any_form(self, key):
        assert form({key: "default"}) == WireForm.DEFAULT_NAMESPACES
        assert form({key: "default"}, "https://nord.example/v3", "5569990020") == (
            WireForm.PREFIXED
        )

    def test_an_operator_named_by_its_service_address(self):
        forms = {SYD_ADDRESS + "/": "default"}
        assert form(forms, operator=None) == WireForm.DEFAULT_NAMESPACES
        assert form(forms, "https://syd.example/annan/v3") == WireForm.PREFIXED

    def test_the_service_address_decides_before_the_operator(self):
        forms = {SYD: "default", SYD_ADDRESS: "prefixed"}
        assert form(forms) == WireForm.PREFIXED
        assert form(forms, "https://syd.example/v3-b") == WireForm.DEFAULT_NAMESPACES

    def test_the_setting_is_read_from_the_environment_as_json(self, monkeypatch):
        monkeypatch.setenv("UTSKICK_OPERATOR_WIRE_FORMS", '{"556999-0012": "default"}')
        assert Settings().operator_wire_forms == {SYD: "default"}


class TestBadSettingsAreExplainedInSwedish:
    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ({SYD: "prefix"}, "trådformen 'prefix' för 5569990012 finns inte; välj \"prefixed\""),
            ({SYD: "Default"}, "trådformen 'Default'"),
            ({"Brevlåda Syd": "default"}, "'Brevlåda Syd' är varken en brevlådeoperatörs"),
            ({"55699900": "default"}, "organisationsnummer \\(t.ex. 556999-0012\\)"),
            ("inte json", "UTSKICK_OPERATOR_WIRE_FORMS är inte giltig JSON"),
            ('["5569990012"]', "ska vara ett JSON-objekt"),
        ],
    )
    def test_a_bad_value_names_what_is_wrong(self, value, reason):
        with pytest.raises(ValidationError, match=reason):
            Settings(operator_wire_forms=value)

    def test_a_bad_environment_value_stops_the_settings_from_loading(self, monkeypatch):
        monkeypatch.setenv("UTSKICK_OPERATOR_WIRE_FORMS", '{"5569990012": "jaxb"}')
        with pytest.raises(ValidationError, match="trådformen 'jaxb'"):
            Settings()


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    issued = CliRunner().invoke(
        app,
        ["dev-ca", "issue", "--org", "202100-4748", "--name", "Exempelkommun",
         "--out", str(folder / "sender.pem"), "--ca-dir", str(folder / "ca")],
    )  # fmt: skip
    assert issued.exit_code == 0, issued.output
    return folder / "sender.pem", folder / "ca" / "ca.pem"


class TestTheSealCommand:
    def seal(self, key, out, *extra):
        return CliRunner().invoke(
            app,
            ["mm", "seal", "--key", str(key[0]), "--sender-org", "202100-4748",
             "--sender-name", "Exempelkommun", "--recipient", "19121212-1212",
             "--subject", "Beslut om bygglov", "--body", "Beviljas.", "--out", str(out), *extra],
        )  # fmt: skip

    @pytest.mark.parametrize(
        ("extra", "signature_tag"),
        [
            ((), b"<ds:Signature>"),
            (("--wire-form", "prefixed"), b"<ds:Signature>"),
            (("--wire-form", "default"), b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">'),
        ],
    )
    def test_the_chosen_form_is_written_and_verifies(self, key, tmp_path, extra, signature_tag):
        out = tmp_path / "request.xml"
        sealed = self.seal(key, out, *extra)
        assert sealed.exit_code == 0, sealed.output
        assert out.read_bytes().count(signature_tag) == 2
        verified = CliRunner().invoke(app, ["mm", "verify", str(out), "--trust", str(key[1])])
        assert verified.exit_code == 0, verified.output
        assert verified.stdout.strip() == "OK sender=202100-4748 sealer=202100-4748"

    def test_an_unknown_form_is_refused_and_nothing_is_written(self, key, tmp_path):
        out = tmp_path / "request.xml"
        refused = self.seal(key, out, "--wire-form", "jaxb")
        assert refused.exit_code == 2
        assert "prefixed" in refused.output
        assert "default" in refused.output
        assert not out.exists()
