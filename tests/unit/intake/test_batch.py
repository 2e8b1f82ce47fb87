"""A batch body is cut into numbered lines, and each line is read as one letter or refused
with the field and a Swedish reason (the same reading for the API and the CLI)."""

import pytest

from support.own_loop import run_in_own_loop
from utskick.intake import batch
from utskick.intake.batch import LineProblem, UnreadableLineError, ndjson_lines, read_letter
from utskick.letters.inputs import LetterRejectedError


class TestBatchLine:
    def test_a_line_with_a_letter_is_that_letter(self):
        line = b'{"sender": "2021004748", "recipient": "191212121212", "subject": "Beslut"}'

        letter = read_letter(line)

        assert (letter.sender, letter.recipient, letter.subject) == (
            "2021004748",
            "191212121212",
            "Beslut",
        )

    def test_a_line_may_give_the_letter_a_support_text_of_its_own(self):
        line = (
            b'{"sender": "2021004748", "recipient": "191212121212", "subject": "Beslut", '
            b'"support_text": "Ring Anna, 0771-00 00 00."}'
        )

        assert read_letter(line).support_text == "Ring Anna, 0771-00 00 00."

    def test_a_line_without_a_sender_is_the_default_senders_and_one_with_keeps_its_own(self):
        without = b'{"recipient": "191212121212", "subject": "Beslut"}'
        with_own = b'{"sender": "2021009903", "recipient": "191212121212", "subject": "Beslut"}'
        defaults = {"sender": "2021004748"}

        assert read_letter(without, defaults=defaults).sender == "2021004748"
        assert read_letter(with_own, defaults=defaults).sender == "2021009903"

    def test_the_defaults_fill_in_every_field_a_line_leaves_out(self):
        line = b'{"sender": "2021009903", "recipient": "191212121212"}'
        defaults = {"subject": "Beslut", "department": "Bygg", "message_type": "beslut"}

        letter = read_letter(line, defaults=defaults)

        assert (letter.subject, letter.department, letter.message_type) == (
            "Beslut",
            "Bygg",
            "beslut",
        )
        assert read_letter(line, defaults={"subject": "Annat"}).subject == "Annat"

    def test_a_local_time_in_a_line_is_read_in_the_zone_given(self):
        line = (
            b'{"sender": "2021009903", "recipient": "191212121212", "subject": "B", '
            b'"not_before": "2026-12-08 06:00"}'
        )

        assert read_letter(line, zone="Europe/Stockholm").not_before.hour == 5
        assert read_letter(line, zone="UTC").not_before.hour == 6

    @pytest.mark.parametrize(
        ("line", "problem", "message"),
        [
            (None, LineProblem.TOO_LONG, "raden är längre än 4 MB"),
            (
                b"\xff",
                LineProblem.NOT_UTF8,
                "raden är inget brev i JSON (inte giltig JSON i UTF-8)",
            ),
            (
                b'{"a": ',
                LineProblem.NOT_JSON,
                "raden är inget brev i JSON (inte giltig JSON i UTF-8)",
            ),
            (
                b"[1, 2]",
                LineProblem.NOT_AN_OBJECT,
                "raden är inget brev i JSON (ska vara ett JSON-",
            ),
            (b"[" * 100_000, LineProblem.TOO_DEEP, "raden är inget brev i JSON (inte giltig JSON"),
        ],
    )
    def test_a_line_that_is_no_letter_at_all_says_why(self, line, problem, message):
        with pytest.raises(UnreadableLineError) as refused:
            read_letter(line)

        assert (refused.value.field, refused.value.problem) == ("(rad)", problem)
        assert refused.value.message.startswith(message)

    @pytest.mark.parametrize(
        ("line", "field", "message"),
        [
            (b'{"sender": "x"}', "recipient", "saknas"),
            (b'{"subject": "a", "subject": "b"}', "subject", 'nyckeln "subject" står två gånger'),
            (b'{"recipient": "1", "subject": "s", "policy": "x"}', "policy", ""),
        ],
    )
    def test_a_letter_with_a_wrong_field_is_refused_naming_the_field(self, line, field, message):
        with pytest.raises(LetterRejectedError) as refused:
            read_letter(line, defaults={"sender": "2021004748"})

        assert refused.value.field == field
        assert refused.value.message.startswith(message)


def lines_of(*chunks):
    """The numbered lines `ndjson_lines` cuts these chunks into."""

    async def source():
        for chunk in chunks:
            yield chunk

    async def collect():
        return [line async for line in ndjson_lines(source())]

    return run_in_own_loop(collect())


class TestBatchBody:
    def test_lines_are_numbered_from_one_across_chunk_boundaries(self):
        assert lines_of(b'{"a"', b': 1}\n{"b": 2}\n{"c"', b": 3}") == [
            (1, b'{"a": 1}'),
            (2, b'{"b": 2}'),
            (3, b'{"c": 3}'),
        ]

    def test_blank_lines_are_skipped_but_counted(self):
        assert lines_of(b"\n{}\n  \n{}\n\n") == [(2, b"{}"), (4, b"{}")]

    def test_a_line_longer_than_a_letter_can_be_is_none_and_the_next_line_is_read(
        self, monkeypatch
    ):
        monkeypatch.setattr(batch, "MAX_BATCH_LINE_BYTES", 8)

        assert lines_of(b'{"a": 1}\n0123', b"456789", b"abc\n{}\n") == [
            (1, b'{"a": 1}'),
            (2, None),
            (3, b"{}"),
        ]

    def test_a_last_line_that_is_too_long_is_none(self, monkeypatch):
        monkeypatch.setattr(batch, "MAX_BATCH_LINE_BYTES", 8)

        assert lines_of(b"{}\n", b"0123456789") == [(1, b"{}"), (2, None)]
