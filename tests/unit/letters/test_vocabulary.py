"""The letter's vocabulary is one: every word listed, typed, named in Swedish and storable."""

from typing import get_args

import pytest

from utskick.intake import schemas
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterEvent
from utskick.printing.models import PrintItem
from utskick.statistics.report import OutcomeCounts


def _words() -> dict[str, str]:
    """Every word the vocabulary names: its upper-case string constants, by name."""
    return {
        name: value
        for name, value in vars(vocabulary).items()
        if name.isupper() and isinstance(value, str)
    }


class TestOnePlace:
    def test_the_tuples_hold_the_literal_types_values_in_their_order(self):
        assert get_args(vocabulary.State) == vocabulary.STATES
        assert get_args(vocabulary.Policy) == vocabulary.POLICIES

    @pytest.mark.parametrize(
        ("model", "field"),
        [
            (schemas.LetterSummary, "state"),
            (schemas.LetterOut, "state"),
            (schemas.EventOut, "state"),
        ],
    )
    def test_the_api_answers_with_the_vocabularys_states(self, model, field):
        assert get_args(model.model_fields[field].annotation) == vocabulary.STATES

    @pytest.mark.parametrize(
        ("model", "field"),
        [
            (schemas.LetterIn, "policy"),
            (schemas.LetterOut, "policy"),
            (schemas.PrecheckIn, "policy"),
        ],
    )
    def test_the_api_takes_the_vocabularys_policies(self, model, field):
        assert get_args(model.model_fields[field].annotation) == vocabulary.POLICIES

    def test_every_word_is_in_its_list(self):
        listed = {
            *vocabulary.STATES,
            *vocabulary.POLICIES,
            *vocabulary.REASONS,
            *vocabulary.PAPER_LAYOUTS,
        }

        assert set(_words().values()) == listed

    def test_no_word_is_named_twice_or_listed_twice(self):
        values = list(_words().values())

        assert len(values) == len(set(values))
        lists = (
            vocabulary.STATES,
            vocabulary.POLICIES,
            vocabulary.REASONS,
            vocabulary.PAPER_LAYOUTS,
        )
        for words in lists:
            assert len(words) == len(set(words))


class TestStates:
    def test_the_groups_are_made_of_states(self):
        states = set(vocabulary.STATES)

        assert states >= vocabulary.TERMINAL_STATES
        assert states >= vocabulary.PRINT_STATES
        assert not vocabulary.TERMINAL_STATES & vocabulary.PRINT_STATES
        assert vocabulary.SETTLED_STATES == vocabulary.TERMINAL_STATES | vocabulary.PRINT_STATES
        assert vocabulary.TERMINAL_STATES < vocabulary.OUTCOME_KNOWN_STATES
        assert vocabulary.OUTCOME_KNOWN_STATES <= vocabulary.SETTLED_STATES
        assert vocabulary.RECEIVED not in vocabulary.SETTLED_STATES

    def test_every_state_has_a_swedish_text(self):
        assert set(vocabulary.STATE_TEXTS) == set(vocabulary.STATES)
        assert all(vocabulary.state_text(state) != state for state in vocabulary.STATES)
        assert len(set(vocabulary.STATE_TEXTS.values())) == len(vocabulary.STATES)

    @pytest.mark.parametrize("state", get_args(vocabulary.State))
    def test_the_statistics_count_every_terminal_state_as_an_outcome_and_no_other(self, state):
        counts = OutcomeCounts()

        counts.add(state, vocabulary.DECEASED, 1)

        assert counts.in_progress == (0 if state in vocabulary.TERMINAL_STATES else 1)


class TestReasons:
    def test_every_reason_has_a_swedish_text(self):
        codes = vocabulary.REASONS

        # 13 channel outcomes, 4 reasons paper is impossible, 1 reason a letter waits (FaR down),
        # 2 for what the records work adds (registered, in the day's registration file),
        # 3 for what happened to one of the letter's jobs (failed, retried, cancelled)
        assert len(codes) == 23
        assert all(vocabulary.text_for(code) != code for code in codes)
        assert set(vocabulary.REASON_TEXTS) == set(codes)

    def test_every_reason_paper_is_impossible_is_a_reason_with_a_short_swedish_name(self):
        names = vocabulary.IMPOSSIBLE_REASONS

        assert set(names) <= set(vocabulary.REASONS)
        assert all(names.values())
        assert len(set(names.values())) == len(names)


class TestStorage:
    @pytest.mark.parametrize(
        ("words", "column"),
        [
            (vocabulary.STATES, Letter.__table__.c.state),
            (vocabulary.STATES, LetterEvent.__table__.c.state),
            (vocabulary.POLICIES, Letter.__table__.c.policy),
            (vocabulary.REASONS, Letter.__table__.c.reason),
            (vocabulary.REASONS, LetterEvent.__table__.c.reason),
            (tuple(vocabulary.IMPOSSIBLE_REASONS), PrintItem.__table__.c.impossible_reason),
        ],
        ids=[
            "letter.state",
            "letter_event.state",
            "letter.policy",
            "letter.reason",
            "letter_event.reason",
            "print_item.impossible_reason",
        ],
    )
    def test_every_word_fits_its_column(self, words, column):
        assert max(len(word) for word in words) <= column.type.length
