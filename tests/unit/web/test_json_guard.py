"""A JSON object that names a key twice is refused at any depth, naming the key."""

import pytest

from utskick.web.json_guard import DuplicateKeyError, NumberText, loads_strict


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param('{"a": 1, "a": 1}', "a", id="same-value-twice"),
        pytest.param('{"a": 1, "b": {"c": 1, "c": 2}}', "c", id="nested-object"),
        pytest.param('[{"ok": 1}, {"d": 1, "d": 2}]', "d", id="object-in-a-list"),
        pytest.param('{"x": [[{"e": [], "e": null}]]}', "e", id="deep-in-lists"),
        pytest.param('{"\\u0061": 1, "a": 2}', "a", id="escaped-spelling-of-the-same-key"),
    ],
)
def test_a_repeated_key_is_refused_naming_it(text, key):
    with pytest.raises(DuplicateKeyError) as refused:
        loads_strict(text)
    assert refused.value.key == key
    assert f'nyckeln "{key}" står två gånger' in refused.value.message


def test_the_same_key_in_different_objects_is_fine():
    assert loads_strict('[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]


def test_numbers_can_be_kept_as_written():
    parsed = loads_strict(
        '{"n": 1e309, "m": NaN, "k": 12345678901234567890123}', numbers_as_text=True
    )
    assert parsed == {"n": "1e309", "m": "NaN", "k": "12345678901234567890123"}
    assert all(isinstance(value, NumberText) for value in parsed.values())
    assert not isinstance(loads_strict('{"s": "1e309"}', numbers_as_text=True)["s"], NumberText)
