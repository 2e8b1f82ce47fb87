"""`utskick senders list|support` on an installation (SQLite and PostgreSQL).

The support information goes with every letter (on the wire and on paper): what cannot be
used there is refused in Swedish, and a refused command changes nothing.
"""

import pytest

from functional.admin_cli import installation_of
from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.senders.repository import SenderRepository

pytestmark = pytest.mark.storage


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def installation(request, tmp_path_factory):
    with installation_of(request.param, tmp_path_factory.mktemp("senders")) as installation:
        yield installation


def support(installation, number=GRANNKOMMUN):
    with installation.session() as session:
        sender = SenderRepository(session).get(number)
        return (
            sender.support_text,
            sender.support_url,
            sender.support_phone,
            sender.support_email,
        )


def test_the_senders_are_listed(installation):
    listed = {
        sender["organisation_number"]: sender for sender in installation.json("senders", "list")
    }

    assert set(listed) == {EXEMPELKOMMUN, GRANNKOMMUN}
    assert listed[EXEMPELKOMMUN]["name"] == "Exempelkommun"
    assert listed[EXEMPELKOMMUN]["support_text"] == "Frågor? Ring Exempelkommuns kontaktcenter."
    table = installation.run("senders", "list")
    assert table.exit_code == 0, table.output
    assert "202100-4748" in table.stdout
    assert "Exempelkommun" in table.stdout


def test_every_part_of_the_support_information_changes(installation):
    changed = installation.json(
        "senders", "support", "202100-9903",
        "--text", "  Frågor besvaras av Grannkommuns kontaktcenter. ",
        "--url", "https://grannkommun.test/kontakt",
        "--telefon", "0123-45  67 89",
        "--epost", "kontakt@grannkommun.test",
    )  # fmt: skip

    assert changed["organisation_number"] == GRANNKOMMUN
    assert support(installation) == (
        "Frågor besvaras av Grannkommuns kontaktcenter.",
        "https://grannkommun.test/kontakt",
        "0123-45 67 89",
        "kontakt@grannkommun.test",
    )
    result = installation.run("senders", "support", GRANNKOMMUN, "--url", "", "--epost", "")
    assert result.exit_code == 0, result.output
    assert "ändrad" in result.stdout
    assert support(installation)[1:] == (None, "0123-45 67 89", None)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--url", "http://grannkommun.test"], "webbadressen 'http://grannkommun.test' går inte"),
        (["--url", "https://" + "a" * 250 + ".se"], "webbadressen har 261 tecken; högst 255"),
        (["--telefon", "ring oss"], "telefonnumret 'ring oss' går inte att använda"),
        (["--telefon", "112"], "telefonnumret '112' går inte att använda"),
        (["--epost", "kontakt.grannkommun.test"], "e-postadressen 'kontakt.grannkommun.test'"),
        (["--text", "   "], "supporttexten kan inte vara tom"),
        (["--text", "x" * 1025], "supporttexten har 1025 tecken; högst 1024 går"),
    ],
)
def test_unusable_support_information_is_refused_and_nothing_changes(installation, args, says):
    before = support(installation)

    # With a usable e-mail address beside it: that is not stored either.
    installation.refused(
        "senders", "support", GRANNKOMMUN, "--epost", "ny@grannkommun.test", *args, says=says
    )

    assert support(installation) == before


def test_a_change_must_name_what_changes(installation):
    installation.refused(
        "senders", "support", GRANNKOMMUN, says="ange minst en av --text, --url, --telefon"
    )


def test_an_unknown_sender_is_refused(installation):
    installation.refused(
        "senders",
        "support",
        "556677-8899",
        "--text",
        "Hej",
        says="avsändaren 556677-8899 finns inte",
    )
    installation.refused(
        "senders", "support", "123", "--text", "Hej", says="123: har fel längd: 3 siffror"
    )
