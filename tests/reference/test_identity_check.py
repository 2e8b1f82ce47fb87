import pytest

from utskick.reference.identity_check import IdentityNumberError, normalise_personnummer


class TestNormalisePersonnummer:
    @pytest.mark.parametrize(
        ("typed", "expected"),
        [
            ("191212121212", "191212121212"),
            ("19121212-1212", "191212121212"),
            (" 19121212 1212 ", "191212121212"),
            ("19700163-2392", "197001632392"),  # samordningsnummer: day 3 + 60
        ],
    )
    def test_valid_numbers_are_given_as_twelve_digits(self, typed, expected):
        assert normalise_personnummer(typed) == expected

    @pytest.mark.parametrize(
        ("typed", "reason"),
        [
            ("", "Skriv ett personnummer med tolv siffror"),
            ("121212-1212", "skriv tolv siffror med sekel"),
            ("19121212-121X", "skriv tolv siffror med sekel"),
            ("19121212-1213", "kontrollsiffran stämmer inte"),
            ("19120230-1212", "19120230 är inget giltigt födelsedatum"),
            ("20990101-1234", "20990101 är inget giltigt födelsedatum"),
        ],
    )
    def test_invalid_numbers_are_refused_with_the_reason(self, typed, reason):
        with pytest.raises(IdentityNumberError, match=reason):
            normalise_personnummer(typed)
