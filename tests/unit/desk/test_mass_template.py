"""A mass mailing's text is filled in from each row; a field the table lacks is refused at once."""

import pytest

from utskick.desk.mass_template import Template, TemplateError

COLUMNS = ["Personnummer", "Förnamn", "Belopp att betala", "Ort"]


def refusal(text):
    with pytest.raises(TemplateError) as caught:
        Template.parse(text, COLUMNS)
    return caught.value.message


def test_fields_with_spaces_and_swedish_letters_are_filled_in():
    template = Template.parse("Hej {Förnamn}! Du ska betala {Belopp att betala} kr.", COLUMNS)
    row = {"Förnamn": "Åsa", "Belopp att betala": "1 250,50", "Ort": "Gävle"}
    assert template.render(row) == "Hej Åsa! Du ska betala 1 250,50 kr."


def test_a_field_matches_its_column_whatever_the_case_and_spacing():
    template = Template.parse("{förnamn} i { ORT }, {belopp  att\nbetala}", COLUMNS)
    assert template.fields == ("Förnamn", "Ort", "Belopp att betala")
    assert template.render({"Förnamn": "Åsa", "Ort": "Gävle", "Belopp att betala": "5"}) == (
        "Åsa i Gävle, 5"
    )


def test_fields_are_listed_once_in_order_of_first_use():
    template = Template.parse("{Ort} {Förnamn} {Ort}", COLUMNS)
    assert template.fields == ("Ort", "Förnamn")


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("{{Förnamn}}", "{Förnamn}"),
        ("{{{Förnamn}}}", "{Åsa}"),
        ("mängd {{x | x > 0}}", "mängd {x | x > 0}"),
        ("ingen klammer", "ingen klammer"),
        ("", ""),
    ],
)
def test_doubled_braces_are_literal_braces(text, rendered):
    assert Template.parse(text, COLUMNS).render({"Förnamn": "Åsa"}) == rendered


def test_an_unknown_field_is_named_with_the_columns_listed():
    message = refusal("Hej {Fornamn}, du bor i {Ort}")
    assert "Fältet {Fornamn} finns inte" in message
    assert "Personnummer, Förnamn, Belopp att betala, Ort" in message


def test_all_unknown_fields_are_named_at_once():
    message = refusal("{Namn} {Adress} {Namn}")
    assert "Fälten {Namn}, {Adress} finns inte" in message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Hej {Förnamn", "står en { som inte stängs med }"),
        ("Hej {{Förnamn}", "står en } utan { före"),
        ("Hej Förnamn}", "står en } utan { före"),
        ("Hej {För{namn}}", "står en { som inte stängs med }"),
    ],
)
def test_a_brace_that_pairs_with_nothing_is_refused(text, said):
    message = refusal(text)
    assert said in message
    assert "{{" in message or "}}" in message


def test_the_line_of_an_unpaired_brace_is_named_in_a_long_text():
    message = refusal("Hej {Förnamn}!\n\nBeslutet gäller {Ort.\nMvh")
    assert "på rad 3" in message
    assert "Beslutet gäller {Ort" in message


@pytest.mark.parametrize("text", ["Hej {}", "Hej {   }"])
def test_an_empty_field_is_refused(text):
    assert "{} utan kolumnnamn" in refusal(text)


def test_a_column_missing_from_the_row_fills_in_nothing():
    assert Template.parse("[{Ort}]", COLUMNS).render({}) == "[]"
