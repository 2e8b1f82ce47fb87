"""An NDJSON file read line by line: numbered from 1, blank lines skipped but counted, a byte
order mark dropped, a line too long to be a letter given as None without reading it whole."""

from utskick.intake import batch
from utskick.intake.pickup import ndjson
from utskick.intake.pickup.ndjson import numbered_lines


def test_lines_are_numbered_blank_ones_skipped(tmp_path):
    path = tmp_path / "a.ndjson"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\n  \n{"b": 2}')

    assert [(n, line) for n, line, _size in numbered_lines(path)] == [
        (1, b'{"a": 1}'),
        (4, b'{"b": 2}'),
    ]


def test_a_line_too_long_is_none_and_the_next_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(ndjson, "MAX_BATCH_LINE_BYTES", 8)
    path = tmp_path / "a.ndjson"
    path.write_bytes(b'{"a": 1}\n' + b"x" * 30 + b"\n{}\n")

    lines = list(numbered_lines(path))

    assert [(n, line) for n, line, _size in lines] == [(1, b'{"a": 1}'), (2, None), (3, b"{}")]
    assert lines[1][2] == 31
    assert batch.MAX_BATCH_LINE_BYTES > 8  # the intake's own limit is left as it is
