"""Where a paper letter goes: precedence of protection, death, emigration and addresses."""

import pytest

from utskick.letters.vocabulary import DECEASED, EMIGRATED, NO_ADDRESS, NOT_FOUND
from utskick.printing.addresses import (
    RegisterEntry,
    caller_address_lines,
    entry_from_record,
    resolve,
)

CALLER = {
    "name": "Tolvan Tolvansson",
    "lines": ["Box 12"],
    "postal_code": "123 45",
    "city": "Exempelstad",
    "country": None,
}
REGISTERED = RegisterEntry(
    "196611090827", found=True, name="David Dahl", lines=("Dalvägen 3", "123 46 Exempelstad")
)


class TestResolve:
    def test_the_register_address_is_used_when_the_caller_gave_none(self):
        assert resolve(REGISTERED, None).lines == ("David Dahl", "Dalvägen 3", "123 46 Exempelstad")

    def test_the_callers_address_wins_over_the_register(self):
        assert resolve(REGISTERED, CALLER).lines == (
            "Tolvan Tolvansson",
            "Box 12",
            "123 45 Exempelstad",
        )

    def test_a_protected_identity_never_gets_an_address_not_even_the_callers(self):
        envelope = resolve(RegisterEntry("198512304166", found=True, protected=True), CALLER)
        assert envelope.protected
        assert envelope.lines == ()
        assert envelope.impossible_reason is None

    @pytest.mark.parametrize(
        ("entry", "reason"),
        [
            (
                RegisterEntry(
                    "195807183529",
                    found=True,
                    name="Hanna Holm",
                    lines=("Holmgatan 4",),
                    deceased=True,
                ),
                DECEASED,
            ),
            (
                RegisterEntry(
                    "197604122387",
                    found=True,
                    name="Jonas Jansson",
                    lines=("Jarlavägen 8",),
                    emigrated=True,
                ),
                EMIGRATED,
            ),
            (RegisterEntry("198807192466", found=True, name="Lena Lund", lines=()), NO_ADDRESS),
            (RegisterEntry("190001012383", found=False), NOT_FOUND),
            (None, NOT_FOUND),
        ],
    )
    def test_letters_that_cannot_go_on_paper_say_why(self, entry, reason):
        assert resolve(entry, None).impossible_reason == reason

    def test_a_deceased_person_gets_no_letter_even_with_an_address_given(self):
        entry = RegisterEntry(
            "195807183529", found=True, name="Hanna Holm", lines=("Holmgatan 4",), deceased=True
        )
        assert resolve(entry, CALLER).impossible_reason == DECEASED

    def test_an_unknown_recipient_with_a_given_address_gets_the_letter(self):
        assert (
            resolve(RegisterEntry("190001012383", found=False), CALLER).lines[0]
            == "Tolvan Tolvansson"
        )


class TestRegisterRecords:
    def test_a_record_with_care_of_becomes_envelope_lines(self):
        entry = entry_from_record(
            {
                "id": "191212121212",
                "found": True,
                "name": "Tolvan Tolvansson",
                "address": {
                    "care_of": "Anna A",
                    "street": "Tolvgatan 12",
                    "postal_code": "123 45",
                    "city": "Exempelstad",
                },
                "protected": False,
                "deceased_on": None,
                "emigrated_on": None,
            }
        )
        assert entry.lines == ("c/o Anna A", "Tolvgatan 12", "123 45 Exempelstad")

    def test_dates_of_death_and_emigration_are_flags(self):
        entry = entry_from_record(
            {
                "id": "195807183529",
                "found": True,
                "name": "Hanna Holm",
                "address": None,
                "protected": False,
                "deceased_on": "2025-03-14",
                "emigrated_on": None,
            }
        )
        assert entry.deceased
        assert not entry.emigrated

    def test_a_foreign_address_ends_with_its_country_in_capitals(self):
        lines = caller_address_lines({**CALLER, "country": "Norge"})
        assert lines[-1] == "NORGE"
