"""Message types as the admin commands add and change them (SQLite and PostgreSQL)."""

import pytest

from utskick.letters.message_types import (
    MessageTypeError,
    add_message_type,
    change_message_type,
    find_message_type,
    message_types,
)
from utskick.letters.models import MessageType

pytestmark = pytest.mark.storage


def test_types_are_added_trimmed_and_listed_by_code(db_session):
    add_message_type(db_session, " kallelse ", " Kallelse ", 2)
    add_message_type(db_session, "beslut.bygg", "Beslut om bygglov", 4)

    listed = [(t.code, t.name, t.protection_class) for t in message_types(db_session)]

    assert listed == [("beslut.bygg", "Beslut om bygglov", 4), ("kallelse", "Kallelse", 2)]


@pytest.mark.parametrize(
    ("code", "name", "protection_class", "says"),
    [
        ("kallelse", "Kallelse", 0, "skyddsklassen 0 finns inte; ange 1, 2, 3 eller 4"),
        ("kallelse", "Kallelse", 5, "skyddsklassen 5 finns inte"),
        ("två ord", "Kallelse", 2, "koden 'två ord' går inte att använda"),
        ("", "Kallelse", 2, "koden '' går inte att använda"),
        ("*", "Alla", 2, "koden '\\*' går inte att använda"),
        ("k" * 65, "Kallelse", 2, "1–64 bokstäver"),
        ("kallelse", " ", 2, "namnet ska ha 1–256 tecken"),
    ],
)
def test_what_cannot_be_a_type_is_refused_in_swedish(
    db_session, code, name, protection_class, says
):
    with pytest.raises(MessageTypeError, match=says):
        add_message_type(db_session, code, name, protection_class)

    assert message_types(db_session) == []


def test_a_code_is_added_once(db_session):
    add_message_type(db_session, "kallelse", "Kallelse", 2)

    with pytest.raises(MessageTypeError, match="kallelse finns redan; ändra den med"):
        add_message_type(db_session, "kallelse", "Annan", 3)

    assert db_session.get(MessageType, "kallelse").name == "Kallelse"


def test_a_change_changes_only_what_is_given(db_session):
    add_message_type(db_session, "kallelse", "Kallelse", 2)

    change_message_type(db_session, "kallelse", protection_class=3)

    found = find_message_type(db_session, "kallelse")
    assert (found.name, found.protection_class) == ("Kallelse", 3)


def test_a_refused_change_changes_nothing(db_session):
    add_message_type(db_session, "kallelse", "Kallelse", 2)

    with pytest.raises(MessageTypeError, match="skyddsklassen 7"):
        change_message_type(db_session, "kallelse", name="Ny", protection_class=7)

    found = find_message_type(db_session, "kallelse")
    assert (found.name, found.protection_class) == ("Kallelse", 2)


def test_an_unknown_type_is_refused(db_session):
    with pytest.raises(MessageTypeError, match="det finns ingen meddelandetyp 'saknas'"):
        change_message_type(db_session, "saknas", name="Ny")
