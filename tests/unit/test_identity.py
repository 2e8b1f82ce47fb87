import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from utskick.identity import (
    IdentityKind,
    InvalidIdentityError,
    luhn_check_digit,
    parse_identity,
    parse_organisation,
    parse_person,
)

TODAY = dt.date(2026, 11, 27)

# The demo world's identities (docs/test-identities.md): all must be valid numbers.
DEMO_PEOPLE = [
    "19121212-1212",
    "19800423-2388",
    "19750101-2475",
    "19900315-3146",
    "19661109-0827",
    "19851230-4166",
    "20120614-3230",
    "19580718-3529",
    "19930228-1465",
    "19810105-2382",
]
DEMO_ORGANISATIONS = [
    "202100-4748",
    "202100-9903",
    "556999-0012",
    "556999-0020",
    "556999-0038",
    "556677-8899",
]


class TestAcceptedForms:
    @pytest.mark.parametrize(
        "text",
        [
            "19121212-1212",
            "191212121212",
            " 19121212 1212 ",
            "121212+1212",
        ],
    )
    def test_every_way_people_type_tolvan_gives_the_same_recipient_id(self, text):
        identity = parse_identity(text, today=TODAY)
        assert identity.value == "191212121212"
        assert identity.kind is IdentityKind.PERSONNUMMER
        assert identity.display == "19121212-1212"

    @pytest.mark.parametrize("text", DEMO_PEOPLE)
    def test_demo_people_are_valid_personnummer(self, text):
        assert parse_person(text, today=TODAY).kind is IdentityKind.PERSONNUMMER

    @pytest.mark.parametrize("text", DEMO_ORGANISATIONS)
    def test_demo_organisations_are_valid_and_get_the_16_prefix(self, text):
        identity = parse_organisation(text)
        assert identity.value == "16" + text.replace("-", "")
        assert identity.organisation_number == text.replace("-", "")

    def test_samordningsnummer_has_day_plus_sixty_and_a_real_birth_date(self):
        identity = parse_identity("19700163-2392", today=TODAY)
        assert identity.kind is IdentityKind.SAMORDNINGSNUMMER
        assert identity.birth_date == dt.date(1970, 1, 3)

    def test_without_plus_the_ten_digit_form_is_the_younger_person(self):
        assert parse_identity("121212-1212", today=TODAY).value == "201212121212"

    def test_ten_digits_take_the_latest_century_that_is_not_in_the_future(self):
        assert parse_identity("120614-3230", today=TODAY).value == "201206143230"
        assert parse_identity("800423-2388", today=TODAY).value == "198004232388"

    def test_twelve_digit_organisation_form_is_accepted(self):
        assert parse_identity("162021004748").kind is IdentityKind.ORGANISATIONSNUMMER

    def test_age_at_a_date_counts_whole_years(self):
        filip = parse_identity("20120614-3230", today=TODAY)
        assert filip.age_at(dt.date(2030, 6, 13)) == 17
        assert filip.age_at(dt.date(2030, 6, 14)) == 18
        assert parse_identity("202100-4748").age_at(TODAY) is None


class TestRejected:
    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("19121212-1213", "kontrollsiffran stämmer inte"),
            ("19121232-1212", "datumet finns inte"),
            ("19130229-1212", "datumet finns inte"),
            ("1912121212121", "har fel längd: 13 siffror"),
            ("121212-121", "fel längd"),
            ("19121212-12A2", "får bara innehålla siffror"),
            ("", "inget nummer angivet"),
            ("202100-4749", "kontrollsiffran stämmer inte"),
            ("20301212-1212", "datumet ligger i framtiden"),
            ("191212-121212", "före de fyra sista siffrorna"),
            ("19121212+1212", "plustecken används bara med 10 siffror"),
            ("19-121212-1212", "högst ett bindestreck"),
        ],
    )
    def test_bad_numbers_say_what_is_wrong_in_swedish(self, text, problem):
        with pytest.raises(InvalidIdentityError, match=problem):
            parse_identity(text, today=TODAY)

    def test_an_organisation_number_where_a_person_is_required(self):
        with pytest.raises(
            InvalidIdentityError, match="här krävs ett person- eller samordningsnummer"
        ):
            parse_person("202100-4748", today=TODAY)

    def test_a_personnummer_where_an_organisation_is_required(self):
        with pytest.raises(InvalidIdentityError, match="här krävs ett organisationsnummer"):
            parse_organisation("19121212-1212")


# --- properties ----------------------------------------------------------------------------

birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY)
serials = st.integers(min_value=0, max_value=999)


def _personnummer(born, serial, *, samordning=False):
    day = born.day + (60 if samordning else 0)
    nine = f"{born:%y%m}{day:02d}{serial:03d}"
    return f"{born.year // 100}{nine}{luhn_check_digit(nine)}"


@given(born=birth_dates, serial=serials, samordning=st.booleans())
def test_any_valid_number_parses_to_itself_in_every_written_form(born, serial, samordning):
    twelve = _personnummer(born, serial, samordning=samordning)
    forms = [twelve, f"{twelve[:8]}-{twelve[8:]}", f"{twelve[:8]} {twelve[8:]}"]
    age = TODAY.year - born.year - ((TODAY.month, TODAY.day) < (born.month, born.day))
    if age < 100:  # a 10-digit form is unambiguous below 100; above, the + sign says so
        forms += [twelve[2:], f"{twelve[2:8]}-{twelve[8:]}"]
    else:
        forms += [f"{twelve[2:8]}+{twelve[8:]}"]
    for form in forms:
        identity = parse_identity(form, today=TODAY)
        assert identity.value == twelve
        assert identity.birth_date == born
        expected = IdentityKind.SAMORDNINGSNUMMER if samordning else IdentityKind.PERSONNUMMER
        assert identity.kind is expected


@given(born=birth_dates, serial=serials, wrong=st.integers(min_value=1, max_value=9))
def test_any_wrong_check_digit_is_refused(born, serial, wrong):
    twelve = _personnummer(born, serial)
    bad = twelve[:11] + str((int(twelve[11]) + wrong) % 10)
    with pytest.raises(InvalidIdentityError, match="kontrollsiffran"):
        parse_identity(bad, today=TODAY)


@given(digits=st.text(alphabet="0123456789", min_size=8, max_size=8), group=st.integers(2, 9))
def test_organisation_numbers_with_a_valid_check_digit_round_trip(digits, group):
    nine = digits[:2] + str(group) + digits[2:8]
    ten = nine + str(luhn_check_digit(nine))
    identity = parse_organisation(f"{ten[:6]}-{ten[6:]}")
    assert identity.value == "16" + ten
    assert parse_identity(identity.value).value == identity.value


@given(text=st.text(max_size=20))
def test_arbitrary_text_either_parses_or_says_why(text):
    outcome = None
    try:
        outcome = parse_identity(text, today=TODAY)
    except InvalidIdentityError as error:
        problem = error.problem
    if outcome is None:
        assert problem
    else:
        assert len(outcome.value) == 12
        assert outcome.value.isdigit()
