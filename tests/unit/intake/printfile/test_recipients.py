"""A print file that is one letter: its recipient read from a form field, its metadata (XMP by
local name with any prefix, or the document information) or its name, each in every form a
number is typed; and every way it cannot be read, refused with a Swedish reason that names
where it looked. Nothing is guessed."""

import datetime as dt
import io

import pytest
from pypdf import PdfReader

from support.print_files import form_pdf, pdf_of, with_metadata, xmp_packet
from utskick.intake.printfile.recipients import from_file_name, from_form_field, from_metadata

TODAY = dt.date(2026, 12, 7)
PLAIN = pdf_of([["Beslut"]])


def reader(pdf):
    return PdfReader(io.BytesIO(pdf))


class TestFormField:
    @pytest.mark.parametrize(
        "value",
        ["19121212-1212", "191212121212", "121212-1212", " 19121212-1212 ", "212000-0142"],
    )
    def test_the_fields_number_is_the_recipient_as_written(self, value):
        reading = from_form_field(reader(form_pdf("personnummer", value)), "personnummer", TODAY)

        assert (reading.recipient, reading.problem) == (value.strip(), None)

    def test_a_missing_field_is_named(self):
        reading = from_form_field(reader(form_pdf("namn", "Tolvan")), "personnummer", TODAY)

        assert reading.recipient is None
        assert 'inget formulärfält "personnummer"' in reading.problem

    def test_an_empty_field_says_so(self):
        reading = from_form_field(reader(form_pdf("personnummer", "")), "personnummer", TODAY)

        assert reading.recipient is None
        assert 'formulärfältet "personnummer" är tomt' in reading.problem

    def test_a_wrong_check_digit_is_refused_with_the_number_as_read(self):
        reading = from_form_field(
            reader(form_pdf("personnummer", "19121212-1213")), "personnummer", TODAY
        )

        assert reading.recipient == "19121212-1213"
        assert "kontrollsiffran stämmer inte" in reading.problem
        assert 'formulärfältet "personnummer"' in reading.problem

    def test_text_that_is_no_number_is_refused(self):
        reading = from_form_field(
            reader(form_pdf("personnummer", "se bilaga")), "personnummer", TODAY
        )

        assert "inget giltigt person-, samordnings- eller organisationsnummer" in reading.problem


class TestMetadata:
    @pytest.mark.parametrize("prefix", ["pdfx", "kommun", "ns0"])
    def test_an_xmp_element_is_found_by_its_local_name_whatever_its_prefix(self, prefix):
        pdf = with_metadata(PLAIN, xmp=xmp_packet({f"{prefix}:Personnummer": "19121212-1212"}))

        reading = from_metadata(reader(pdf), "Personnummer", TODAY)

        assert (reading.recipient, reading.problem) == ("19121212-1212", None)

    def test_an_xmp_attribute_is_found_too_and_the_configured_prefix_is_ignored(self):
        packet = (
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            'rdf:about="" xmlns:k="http://kommun.test/" k:mottagare="198004232388"/>'
            "</rdf:RDF></x:xmpmeta>"
        )
        pdf = with_metadata(PLAIN, xmp=packet)

        reading = from_metadata(reader(pdf), "pdfx:Mottagare", TODAY)

        assert (reading.recipient, reading.problem) == ("198004232388", None)

    def test_the_document_information_entry_is_read(self):
        pdf = with_metadata(PLAIN, info={"/Personnummer": "121212-1212"})

        reading = from_metadata(reader(pdf), "Personnummer", TODAY)

        assert (reading.recipient, reading.problem) == ("121212-1212", None)

    def test_the_same_number_in_xmp_and_information_is_one_recipient(self):
        pdf = with_metadata(
            PLAIN,
            info={"/Personnummer": "191212121212"},
            xmp=xmp_packet({"pdfx:Personnummer": "19121212-1212"}),
        )

        assert from_metadata(reader(pdf), "Personnummer", TODAY).problem is None

    def test_two_different_numbers_are_refused_rather_than_one_chosen(self):
        pdf = with_metadata(
            PLAIN,
            info={"/Personnummer": "19800423-2388"},
            xmp=xmp_packet({"pdfx:Personnummer": "19121212-1212"}),
        )

        reading = from_metadata(reader(pdf), "Personnummer", TODAY)

        assert reading.recipient is None
        assert "olika nummer" in reading.problem

    def test_no_entry_says_where_it_looked(self):
        reading = from_metadata(reader(PLAIN), "Personnummer", TODAY)

        assert reading.recipient is None
        assert 'ingen uppgift "Personnummer" (varken i XMP eller i dokumentinformationen)' in (
            reading.problem
        )

    def test_a_damaged_xmp_packet_counts_as_none(self):
        pdf = with_metadata(PLAIN, xmp="<x:xmpmeta><inte xml")

        assert from_metadata(reader(pdf), "Personnummer", TODAY).recipient is None


class TestFileName:
    @pytest.mark.parametrize(
        ("name", "number"),
        [
            ("19121212-1212_beslut.pdf", "19121212-1212"),
            ("191212121212_beslut.pdf", "191212121212"),
            ("121212-1212 beslut.pdf", "121212-1212"),
            ("121212+1212.pdf", "121212+1212"),
            ("197001632392_samordning.pdf", "197001632392"),
            ("212000-0142-faktura.pdf", "212000-0142"),
        ],
    )
    def test_the_names_leading_number_is_the_recipient(self, name, number):
        reading = from_file_name(name, None, TODAY)

        assert (reading.recipient, reading.problem) == (number, None)

    def test_a_name_without_a_leading_number_is_refused(self):
        reading = from_file_name("beslut_19121212-1212.pdf", None, TODAY)

        assert reading.recipient is None
        assert 'filnamnet "beslut_19121212-1212.pdf" börjar inte med' in reading.problem

    def test_digits_that_run_on_are_no_number(self):
        assert from_file_name("1912121212123_beslut.pdf", None, TODAY).recipient is None

    def test_a_pattern_finds_the_number_in_its_group_named_nummer(self):
        pattern = r"beslut_(?P<ar>\d{4})_(?P<nummer>\d{8}-\d{4})"

        reading = from_file_name("beslut_2026_19121212-1212.pdf", pattern, TODAY)

        assert (reading.recipient, reading.problem) == ("19121212-1212", None)

    def test_a_pattern_that_does_not_match_says_so(self):
        reading = from_file_name("faktura.pdf", r"pnr(\d{12})", TODAY)

        assert reading.recipient is None
        assert "källans mönster" in reading.problem

    def test_a_wrong_check_digit_in_the_name_is_refused(self):
        reading = from_file_name("19121212-1213_beslut.pdf", None, TODAY)

        assert reading.recipient == "19121212-1213"
        assert "kontrollsiffran stämmer inte" in reading.problem
