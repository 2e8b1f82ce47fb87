"""Splitting by a text anchor: every page with the label starts a letter, up to the next. The
label is found in any case and with any whitespace, only inside `area_mm` when one is set.
The reader refuses rather than guesses: no label anywhere and pages before the first label
refuse the file; two different numbers, none, or a wrong check digit on a letter's first page
make that letter's problem, naming the page."""

import datetime as dt
import io

import pytest
from pypdf import PdfReader

from support.print_files import RECIPIENTS, anchor_file, letter_pages, pdf_of
from utskick.intake.printfile.anchor import anchor_letters
from utskick.intake.printfile.common import PrintFileRefusedError
from utskick.intake.sources import RecipientRule

TODAY = dt.date(2026, 12, 7)
ANCHOR = RecipientRule(rule="anchor")


def letters_of(pdf, rule=ANCHOR):
    return anchor_letters(PdfReader(io.BytesIO(pdf)), rule, "utskrift.pdf", TODAY)


def summary(letters):
    return [(it.first_page, it.last_page, it.recipient, it.problem) for it in letters]


def test_every_page_with_the_anchor_starts_a_letter():
    pdf = pdf_of(
        [
            *letter_pages(RECIPIENTS[0], 2),
            *letter_pages(RECIPIENTS[1], 1),
            *letter_pages(RECIPIENTS[2], 3),
        ]
    )

    assert summary(letters_of(pdf)) == [
        (1, 2, RECIPIENTS[0], None),
        (3, 3, RECIPIENTS[1], None),
        (4, 6, RECIPIENTS[2], None),
    ]


@pytest.mark.parametrize(
    ("written", "label", "number"),
    [
        ("PERSONNUMMER: 19121212-1212", "Personnummer:", "19121212-1212"),
        ("Personnummer :   191212121212", "Personnummer:", "191212121212"),
        ("Person nummer: 121212-1212", "Personnummer:", "121212-1212"),
        ("Personnummer:19121212 - 1212", "Personnummer:", "19121212-1212"),
        ("Org.nr 212000-0142", "Org.nr", "212000-0142"),
        ("Kundnummer 121212+1212", "Kundnummer", "121212+1212"),
    ],
)
def test_the_label_is_found_in_any_case_and_whitespace_and_every_typed_form(written, label, number):
    pdf = pdf_of([[written, "Tolvan Tolvansson"]])

    [letter] = letters_of(pdf, RecipientRule(rule="anchor", label=label))

    assert (letter.recipient, letter.problem) == (number, None)


def test_a_file_without_the_anchor_is_refused_whole():
    with pytest.raises(PrintFileRefusedError) as refused:
        letters_of(pdf_of([["Beslut om bygglov"], ["Sida 2"]]))

    assert 'ingen sida i utskriftsfilen utskrift.pdf har texten "Personnummer:"' in (
        refused.value.message
    )


def test_pages_before_the_first_anchor_refuse_the_file_naming_them():
    pdf = pdf_of([["Följebrev"], ["Innehåll"], *letter_pages(RECIPIENTS[0], 2)])

    with pytest.raises(PrintFileRefusedError) as refused:
        letters_of(pdf)

    assert refused.value.message.startswith(
        "sidorna 1–2 i utskriftsfilen utskrift.pdf kommer före den första sidan med "
        '"Personnummer:" (sidan 3)'
    )


def test_two_different_numbers_on_a_first_page_are_that_letters_problem():
    two = [["Personnummer: 19121212-1212", "Personnummer: 19800423-2388"], ["Sida 2"]]
    pdf = pdf_of([*letter_pages(RECIPIENTS[2], 1), *two, *letter_pages(RECIPIENTS[3], 1)])

    letters = letters_of(pdf)

    assert [letter.problem is None for letter in letters] == [True, False, True]
    assert letters[1].recipient is None
    assert letters[1].problem.startswith(
        'sidan 2 har två olika nummer efter "Personnummer:" (19121212-1212 och 19800423-2388)'
    )
    assert (letters[1].first_page, letters[1].last_page) == (2, 3)


def test_the_same_number_twice_is_one_recipient():
    pdf = pdf_of([["Personnummer: 19121212-1212", "Personnummer: 191212121212"]])

    [letter] = letters_of(pdf)

    assert (letter.recipient, letter.problem) == ("19121212-1212", None)


def test_a_wrong_check_digit_is_that_letters_problem_naming_the_page():
    pdf = pdf_of([*letter_pages(RECIPIENTS[0], 2), *letter_pages("19121212-1213", 2)])

    letters = letters_of(pdf)

    assert letters[0].problem is None
    assert letters[1].recipient == "19121212-1213"
    assert letters[1].problem.startswith("sidan 3: numret 19121212-1213 är inget giltigt")
    assert "kontrollsiffran stämmer inte" in letters[1].problem


def test_a_label_without_a_number_is_that_letters_problem_saying_what_stood_there():
    pdf = pdf_of([["Personnummer: se nedan", "Tolvan"]])

    [letter] = letters_of(pdf)

    assert letter.recipient is None
    assert letter.problem.startswith(
        'sidan 1: efter "Personnummer:" står inget person-, samordnings- eller '
        "organisationsnummer (där står 'se nedan')"
    )


class TestArea:
    # The letters of `pdf_of` start 20 mm from the left and 40 mm from the top.
    def test_only_text_inside_the_area_counts(self):
        inside = RecipientRule(rule="anchor", area_mm=(10, 30, 120, 60))
        outside = RecipientRule(rule="anchor", area_mm=(10, 100, 120, 200))
        pdf = anchor_file(RECIPIENTS[:2], 1)

        assert summary(letters_of(pdf, inside)) == [
            (1, 1, RECIPIENTS[0], None),
            (2, 2, RECIPIENTS[1], None),
        ]
        with pytest.raises(PrintFileRefusedError) as refused:
            letters_of(pdf, outside)
        assert "inom det område källan anger (area_mm)" in refused.value.message

    def test_a_number_outside_the_area_is_not_a_second_recipient(self):
        page = ["Personnummer: 19121212-1212", *[""] * 20, "Personnummer: 19800423-2388"]
        pdf = pdf_of([page])

        [letter] = letters_of(pdf, RecipientRule(rule="anchor", area_mm=(10, 30, 120, 60)))
        [both] = letters_of(pdf)

        assert (letter.recipient, letter.problem) == ("19121212-1212", None)
        assert "två olika nummer" in both.problem
