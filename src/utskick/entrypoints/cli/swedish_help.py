"""Typer's own words in `--help` in Swedish: the panel titles, defaults and the help option.

Typer renders help with Rich from module-level strings (`typer.rich_utils`), which are meant
to be set by an application; the help option's own text ("Show this message and exit.") is
fixed where Typer builds that option, so the builder is wrapped to give it Swedish text.
Click's "Usage:" line is left as it is: it is the one word Typer does not let an
application change.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import typer.rich_utils

HELP_OPTION_TEXT = "Visa den här hjälpen och avsluta."


def use_swedish_help() -> None:
    """Set Typer's help words to Swedish for every command of this process."""
    typer.rich_utils.ARGUMENTS_PANEL_TITLE = "Argument"
    typer.rich_utils.OPTIONS_PANEL_TITLE = "Flaggor"
    typer.rich_utils.COMMANDS_PANEL_TITLE = "Kommandon"
    typer.rich_utils.DEFAULT_STRING = "[standard: {}]"
    typer.rich_utils.REQUIRED_LONG_STRING = "[krävs]"
    typer.rich_utils.ENVVAR_STRING = "[miljövariabel: {}]"
    typer.rich_utils.DEPRECATED_STRING = "(föråldrad) "
    _swedish_help_option()


def _swedish_help_option() -> None:
    # The vendored click of Typer builds the help option with this function on first use.
    try:
        decorators: Any = importlib.import_module("typer._click.decorators")
    except ImportError:  # another Typer: its help option keeps its own words
        return
    build = getattr(decorators, "help_option", None)
    if build is None or getattr(build, "swedish", False):
        return

    @functools.wraps(build)
    def help_option(*names: Any, **options: Any) -> Callable[..., Any]:
        decorate = build(*names, **options)

        def swedish(command: Any) -> Any:
            command = decorate(command)
            command.params[-1].help = HELP_OPTION_TEXT
            return command

        return swedish

    help_option.swedish = True  # type: ignore[attr-defined]
    decorators.help_option = help_option
