"""File names keep only their base name; control and bidirectional formatting characters are
named when they are refused."""

import pytest

from utskick.letters.text_checks import attachment_base_name, is_empty_name, refused_character


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        pytest.param("beslut.pdf", "beslut.pdf", id="plain"),
        pytest.param("../../etc/beslut.pdf", "beslut.pdf", id="dot-dot-slash"),
        pytest.param("/var/lib/utskick/beslut.pdf", "beslut.pdf", id="absolute-posix"),
        pytest.param("C:\\Ärenden\\BN 2026\\beslut.pdf", "beslut.pdf", id="windows-path"),
        pytest.param("..\\..\\beslut.pdf", "beslut.pdf", id="dot-dot-backslash"),
        pytest.param("C:beslut.pdf", "beslut.pdf", id="drive-relative"),
        pytest.param("\\\\server\\share\\beslut.pdf", "beslut.pdf", id="unc-path"),
    ],
)
def test_a_path_in_front_of_the_name_is_removed(given, stored):
    assert attachment_base_name(given) == stored


@pytest.mark.parametrize("given", ["../", "/", "C:\\", "..", ".", "mapp/ "])
def test_a_name_that_is_only_a_path_names_nothing(given):
    assert is_empty_name(attachment_base_name(given))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        pytest.param("beslut\u202efdp.exe", "U+202E", id="right-to-left-override"),
        pytest.param("beslut\u202dx", "U+202D", id="left-to-right-override"),
        pytest.param("a\u202ab", "U+202A", id="embedding"),
        pytest.param("a\u2066b\u2069", "U+2066", id="isolate"),
        pytest.param("a\u2069", "U+2069", id="pop-isolate"),
        pytest.param("a\u200fb", "U+200F", id="right-to-left-mark"),
        pytest.param("a\u200eb", "U+200E", id="left-to-right-mark"),
        pytest.param("a\u061cb", "U+061C", id="arabic-letter-mark"),
        pytest.param("a\x07b", "styrtecknet U+0007", id="c0-bell"),
        pytest.param("a\x7fb", "styrtecknet U+007F", id="delete"),
        pytest.param("a\x85b", "styrtecknet U+0085", id="c1-next-line"),
        pytest.param("a\x9bb", "styrtecknet U+009B", id="c1-csi"),
        pytest.param("rad ett\nrad två", "radbrytning", id="newline"),
    ],
)
def test_control_and_bidirectional_characters_are_named(text, named):
    found = refused_character(text)
    assert found is not None
    assert named in found


def test_a_support_text_may_break_lines_but_not_turn_text_around():
    assert refused_character("Ring oss\n08-123 45 67", multiline=True) is None
    assert "U+202E" in (refused_character("Ring\u202e oss", multiline=True) or "")


def test_ordinary_swedish_and_arabic_text_passes():
    assert refused_character("Beslut om bygglov – Åsa Öberg, ärende 12/2026") is None
    assert refused_character("قرار بشأن ترخيص البناء") is None


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_a_unicode_line_separator_is_a_line_break_in_a_one_line_text(separator):
    assert refused_character(f"Beslut{separator}Falskt") == (
        f"radbrytningen U+{ord(separator):04X} ("
        + ("LINE SEPARATOR" if separator == "\u2028" else "PARAGRAPH SEPARATOR")
        + ")"
    )
    assert refused_character(f"Rad ett{separator}rad två", multiline=True) is None
