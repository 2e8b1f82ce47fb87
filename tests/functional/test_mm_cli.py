"""`utskick mm seal --wire-form`: the chosen wire form is written, and it verifies."""

import pytest
from typer.testing import CliRunner

from utskick.entrypoints.cli import app


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
