"""A sender's support information: checked against the wire and what a person can use."""

import dataclasses

import pytest

from support.world import sender_organisation
from utskick.senders.support import SupportChange, SupportInfoError, change_support_info


def a_sender():
    return sender_organisation(
        support_url="https://kommun.test/kontakt",
        support_phone="0123-45 67 89",
        support_email="kontakt@kommun.test",
    )


def parts(sender):
    return (sender.support_text, sender.support_url, sender.support_phone, sender.support_email)


def test_only_the_parts_given_change():
    sender = a_sender()

    change_support_info(sender, SupportChange(phone="+46  123 45 67 89"))

    assert parts(sender) == (
        "Frågor? Ring Exempelkommuns kontaktcenter.",
        "https://kommun.test/kontakt",
        "+46 123 45 67 89",
        "kontakt@kommun.test",
    )


def test_an_empty_value_removes_an_optional_part():
    sender = a_sender()

    change_support_info(sender, SupportChange(url="", phone=" ", email=""))

    assert parts(sender)[1:] == (None, None, None)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (SupportChange(text=""), "supporttexten kan inte vara tom"),
        (SupportChange(url="www.kommun.test"), "börjar med https://"),
        (SupportChange(url="https://kommun.test/en sida"), "går inte att använda"),
        (SupportChange(phone="0123-45 67 89 (växel)"), "telefonnumret"),
        (SupportChange(phone="1234"), "telefonnumret '1234'"),
        (SupportChange(email="kontakt@kommun"), "e-postadressen 'kontakt@kommun'"),
        (SupportChange(email="två ord@kommun.test"), "e-postadressen"),
    ],
)
def test_what_cannot_be_used_is_refused_and_nothing_changes(change, says):
    sender = a_sender()
    before = parts(sender)

    if change.text is None:  # a usable new text beside it is not stored either
        change = dataclasses.replace(change, text="Ny text")

    with pytest.raises(SupportInfoError, match=says):
        change_support_info(sender, change)

    assert parts(sender) == before
