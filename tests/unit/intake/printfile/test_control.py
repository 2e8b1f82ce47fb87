"""The control file beside a print file, as Swedish Excel and business systems write it: CSV
with `;` or `,`, UTF-8 with or without a byte order mark or Windows-1252, Swedish or English
column names, pages as `1-2` or from/to; or JSON. A file that does not fit its print file is
refused whole with the reason; a row whose recipient or time cannot be used is that letter's
problem."""

import datetime as dt
import json

import pytest

from utskick.intake.printfile.common import PrintFileRefusedError
from utskick.intake.printfile.control import (
    control_file_beside,
    control_letters,
    read_control_file,
)

TODAY = dt.date(2026, 12, 7)
ZONE = "Europe/Stockholm"


def planned(path, pages=4):
    return control_letters(read_control_file(path), pages, "utskrift.pdf", ZONE, TODAY)


def written(tmp_path, text, *, name="utskrift.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


class TestCsv:
    @pytest.mark.parametrize(
        ("text", "encoding"),
        [
            ("Sidor;Personnummer;Ämne\r\n1-2;19121212-1212;Beslut\r\n3-4;198004232388;Svar\r\n",
             "utf-8-sig"),
            ("sidor,personnummer,ämne\n1-2,19121212-1212,Beslut\n3-4,198004232388,Svar\n", "utf-8"),
            ("Från;Till;Mottagare;Ämne\n1;2;19121212-1212;Beslut\n3;4;198004232388;Svar\n",
             "cp1252"),
            ("first_page;last_page;recipient;subject\n1;2;19121212-1212;Beslut\n3;4;198004232388;Svar\n",
             "utf-8"),
            ("pages,recipient,subject\n1–2,19121212-1212,Beslut\n3 - 4,198004232388,Svar\n",
             "utf-8"),
        ],
        ids=["excel-semicolon-bom", "comma", "windows-1252-from-to", "english", "dashes"],
    )  # fmt: skip
    def test_each_row_is_a_letter_with_its_pages_recipient_and_subject(
        self, tmp_path, text, encoding
    ):
        letters = planned(written(tmp_path, text, encoding=encoding))

        assert [
            (it.index, it.first_page, it.last_page, it.recipient, it.subject) for it in letters
        ] == [
            (1, 1, 2, "19121212-1212", "Beslut"),
            (2, 3, 4, "198004232388", "Svar"),
        ]
        assert all(letter.problem is None for letter in letters)

    def test_excels_separator_line_names_the_delimiter(self, tmp_path):
        path = written(tmp_path, "sep=;\nSidor;Personnummer\n1-4;19121212-1212\n")

        assert [(it.first_page, it.last_page, it.recipient) for it in planned(path)] == [
            (1, 4, "19121212-1212")
        ]

    def test_the_optional_columns_are_read(self, tmp_path):
        path = written(
            tmp_path,
            "Sidor;Personnummer;Meddelandetyp;Diarienummer;Referens;Tidigast\n"
            "1-4;19121212-1212;beslut;BN 2026/1;Ärende 7;2026-12-08 06:00\n",
        )

        [letter] = planned(path)

        assert (letter.message_type, letter.case_number, letter.reference) == (
            "beslut",
            "BN 2026/1",
            "Ärende 7",
        )
        assert letter.not_before == dt.datetime(2026, 12, 8, 5, 0, tzinfo=dt.UTC)

    def test_a_single_page_letter_may_be_written_as_one_number_and_blank_rows_are_skipped(
        self, tmp_path
    ):
        path = written(tmp_path, "sidor;personnummer\n1;19121212-1212\n;\n2-4;198004232388\n")

        assert [(it.first_page, it.last_page) for it in planned(path)] == [(1, 1), (2, 4)]

    def test_a_bad_recipient_or_time_is_that_letters_problem_and_the_others_go_ahead(
        self, tmp_path
    ):
        path = written(
            tmp_path,
            "sidor;personnummer;tidigast\n1;19121212-1213;\n2;;\n3;19121212-1212;i morgon\n"
            "4;198004232388;\n",
        )

        letters = planned(path)

        assert letters[0].problem.startswith("rad 2: numret 19121212-1213 är inget giltigt")
        assert letters[1].problem == "rad 3: personnummer saknas; fyll i mottagarens nummer"
        assert letters[2].problem.startswith(
            "rad 4: tidigast: 'i morgon' är ingen tid som går att läsa"
        )
        assert letters[3].problem is None


class TestJson:
    @pytest.mark.parametrize("wrapped", [False, True])
    def test_a_list_or_an_object_with_letters_gives_the_same_letters(self, tmp_path, wrapped):
        letters = [
            {"pages": "1-2", "recipient": "19121212-1212", "subject": "Beslut"},
            {"från": 3, "till": 4, "personnummer": "198004232388", "ämne": "Svar"},
        ]
        path = tmp_path / "utskrift.json"
        path.write_text(json.dumps({"letters": letters} if wrapped else letters))

        assert [
            (it.first_page, it.last_page, it.recipient, it.subject) for it in planned(path)
        ] == [
            (1, 2, "19121212-1212", "Beslut"),
            (3, 4, "198004232388", "Svar"),
        ]

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ('{"brev": []}', "ska vara en lista av brev"),
            ('[{"pages": "1-4", "recipient": "191212121212", "recipient": "198004232388"}]',
             'nyckeln "recipient" står två gånger'),
            ('[{"pages": "1-4", "recipient": true}]', "värdena ska vara text eller heltal"),
            ("[{", "ingen giltig JSON"),
        ],
    )  # fmt: skip
    def test_json_that_is_no_list_of_letters_is_refused(self, tmp_path, text, reason):
        path = tmp_path / "utskrift.json"
        path.write_text(text)

        with pytest.raises(PrintFileRefusedError) as refused:
            read_control_file(path)

        assert reason in refused.value.message


class TestRefused:
    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("sidor;personnummer\n1-2;19121212-1212\n2-4;198004232388\n",
             "styrfilen: rad 2 (sidorna 1–2) och rad 3 (sidorna 2–4) har sidan 2 gemensamt"),
            ("sidor;personnummer\n1-2;19121212-1212\n4;198004232388\n",
             "sidan 3 i utskriftsfilen utskrift.pdf hör inte till något brev i styrfilen"),
            ("sidor;personnummer\n1-2;19121212-1212\n",
             "sidorna 3–4 i utskriftsfilen utskrift.pdf hör inte till något brev"),
            ("sidor;personnummer\n1-2;19121212-1212\n3-5;198004232388\n",
             "styrfilen, rad 3: sidorna 3–5 finns inte; utskriftsfilen utskrift.pdf har 4 sidor"),
        ],
        ids=["overlap", "gap", "pages-left-at-the-end", "beyond-the-file"],
    )  # fmt: skip
    def test_ranges_that_do_not_fit_the_print_file_refuse_it_whole(self, tmp_path, text, reason):
        with pytest.raises(PrintFileRefusedError) as refused:
            planned(written(tmp_path, text))

        assert refused.value.message.startswith(reason)

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("sidor;personnummer;belopp\n1-4;19121212-1212;100\n",
             "har kolumnen 'belopp', som inte är känd"),
            ("sidor;ämne\n1-4;Beslut\n", "saknar kolumnen personnummer"),
            ("personnummer;ämne\n19121212-1212;Beslut\n", "säger inte vilka sidor"),
            ("sidor;från;till;personnummer\n1-4;1;4;19121212-1212\n", "anger sidorna två gånger"),
            ("sidor;personnummer;Personnummer\n1-4;1;2\n", "har kolumnen 'Personnummer' två gånger"),
            ("sidor;personnummer\nett-två;19121212-1212\n", "rad 2: sidorna 'ett-två' går inte"),
            ("sidor;personnummer\n3-1;19121212-1212\n", "rad 2: sidorna 3–1 är ingen följd"),
            ("sidor;personnummer\n1-4;19121212-1212;extra\n", "rad 2: raden har fler kolumner"),
            ("sidor;personnummer\n", "har inga brev"),
        ],
    )  # fmt: skip
    def test_a_control_file_that_cannot_be_read_is_refused_naming_the_problem(
        self, tmp_path, text, reason
    ):
        with pytest.raises(PrintFileRefusedError) as refused:
            planned(written(tmp_path, text))

        assert reason in refused.value.message

    def test_a_file_that_is_neither_csv_nor_json_is_refused(self, tmp_path):
        with pytest.raises(PrintFileRefusedError) as refused:
            read_control_file(written(tmp_path, "x", name="utskrift.xlsx"))

        assert "ska vara en CSV-fil (.csv) eller en JSON-fil (.json)" in refused.value.message


class TestBeside:
    def test_the_control_file_beside_the_pdf_is_found_by_its_name(self, tmp_path):
        pdf = tmp_path / "fakturor.pdf"
        (tmp_path / "fakturor.csv").write_text("x")

        assert control_file_beside(pdf) == (tmp_path / "fakturor.csv").resolve()
        assert control_file_beside(tmp_path / "annat.pdf") is None

    def test_two_control_files_beside_it_are_refused(self, tmp_path):
        (tmp_path / "fakturor.csv").write_text("x")
        (tmp_path / "fakturor.json").write_text("[]")

        with pytest.raises(PrintFileRefusedError) as refused:
            control_file_beside(tmp_path / "fakturor.pdf")

        assert "flera styrfiler" in refused.value.message
