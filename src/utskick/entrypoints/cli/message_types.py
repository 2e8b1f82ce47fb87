"""`utskick message-types`: the message types letters name, with class and records rule.

A type's records rule is the installation's rule for its code, the same rule `utskick records
rule` sets (`records.rules.set_rule`): `--regel` here changes only which rule applies and
keeps the rest of an existing rule (who keeps the record, how long, the decision); the full
rule, and rules for one organisation, are set with `utskick records rule`. A type and its
rule are changed in one transaction: a refused rule leaves the type unchanged too.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from utskick.entrypoints.cli.common import CLI_ACTOR, HomeOption, fail, now, open_installation
from utskick.entrypoints.cli.json_output import JsonFlag, print_json
from utskick.letters.message_types import (
    MessageTypeError,
    add_message_type,
    change_message_type,
    message_types,
)
from utskick.letters.models import MessageType
from utskick.records.rules import (
    ANY_TYPE,
    DEFAULT_RULE,
    RULE_TEXTS,
    RULE_WORDS,
    Rule,
    RuleBook,
    RuleInputError,
    set_rule,
)

message_types_app = typer.Typer(
    help="Meddelandetyper: skyddsklass och arkivregel för breven av varje typ.",
    no_args_is_help=True,
)

CodeArgument = Annotated[str, typer.Argument(help="Typens kod, t.ex. bygglovsbeslut.")]
RULE_HELP = 'Arkivregel: diarieförs, "hålls ordnad", journalförs eller "ingen allmän handling".'


@message_types_app.command("list", help="Lista meddelandetyperna med skyddsklass och arkivregel.")
def message_types_list(home: HomeOption = None, as_json: JsonFlag = False) -> None:
    """List the message types with their protection class and records rule."""
    installation = open_installation(home)
    with installation.session() as session:
        types = message_types(session)
        rules = RuleBook.load(session).all()
    if as_json:
        print_json([_type_fields(found, rules) for found in types])
        return
    if not types:
        print("Inga meddelandetyper ännu; lägg till en med utskick message-types add.")
        return
    table = Table("Kod", "Namn", "Skyddsklass", "Arkivregel")
    for found in types:
        rule, own = _installation_rule(rules, found.code)
        table.add_row(
            found.code,
            found.name,
            str(found.protection_class),
            RULE_TEXTS[rule.rule] if own else f"{RULE_TEXTS[rule.rule]} (regeln för alla andra)",
        )
    Console(width=160).print(table)


@message_types_app.command(
    "add", help="Lägg till en meddelandetyp med skyddsklass (och arkivregel)."
)
def message_types_add(
    code: CodeArgument,
    name: Annotated[str, typer.Argument(help="Namnet som visas, t.ex. Beslut om bygglov.")],
    *,
    protection_class: Annotated[
        int,
        typer.Option("--klass", help="Skyddsklass 1, 2 eller 3 (4: får inte skickas digitalt)."),
    ],
    rule_word: Annotated[
        str | None, typer.Option("--registreringsregel", "--regel", help=RULE_HELP)
    ] = None,
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a message type with its protection class, and its records rule if given."""
    installation = open_installation(home)
    with installation.session() as session:
        try:
            added = add_message_type(session, code, name, protection_class)
            if rule_word is not None:
                _set_type_rule(session, added.code, rule_word)
        except (MessageTypeError, RuleInputError) as error:
            raise fail(str(error)) from None
        session.commit()
        _report(session, added, "är tillagd", as_json=as_json)


@message_types_app.command(
    "change", help="Ändra en meddelandetyps namn, skyddsklass eller arkivregel."
)
def message_types_change(
    code: CodeArgument,
    *,
    name: Annotated[str | None, typer.Option("--namn", help="Nytt namn.")] = None,
    protection_class: Annotated[
        int | None,
        typer.Option("--klass", help="Ny skyddsklass (gäller brev som tas emot från och med nu)."),
    ] = None,
    rule_word: Annotated[
        str | None, typer.Option("--regel", "--registreringsregel", help=RULE_HELP)
    ] = None,
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a message type's name, protection class or records rule."""
    if name is None and protection_class is None and rule_word is None:
        raise fail("ange vad som ska ändras: --namn, --klass eller --regel")
    installation = open_installation(home)
    with installation.session() as session:
        try:
            changed = change_message_type(
                session, code, name=name, protection_class=protection_class
            )
            if rule_word is not None:
                _set_type_rule(session, changed.code, rule_word)
        except (MessageTypeError, RuleInputError) as error:
            raise fail(str(error)) from None
        session.commit()
        _report(session, changed, "är ändrad", as_json=as_json)


def _set_type_rule(session: Session, code: str, rule_word: str) -> None:
    """Set the installation's rule for the type, keeping the rest of a rule it has.

    A type without a rule of its own starts from the built-in default (kept by the sending
    system, nothing disposed of), not from the rule for every other type: that one's disposal
    decision was made for other letters.
    """
    kept, own = _installation_rule(RuleBook.load(session).all(), code)
    if not own:
        kept = DEFAULT_RULE
    set_rule(
        session,
        message_type=code,
        rule=RULE_WORDS.get(rule_word.strip().lower(), rule_word),
        keeper=kept.keeper,
        content_months=kept.content_months,
        metadata_months=kept.metadata_months,
        decision=kept.decision,
        actor=CLI_ACTOR,
        now=now(),
    )


def _installation_rule(rules: list[Rule], code: str) -> tuple[Rule, bool]:
    """The installation's rule for letters of this type, and whether it is the type's own."""
    installation = {rule.message_type: rule for rule in rules if rule.organisation_number is None}
    if code in installation:
        return installation[code], True
    return installation.get(ANY_TYPE, DEFAULT_RULE), False


def _type_fields(found: MessageType, rules: list[Rule]) -> dict[str, object]:
    rule, own = _installation_rule(rules, found.code)
    return {
        "code": found.code,
        "name": found.name,
        "protection_class": found.protection_class,
        "records_rule": rule.rule,
        "records_rule_text": RULE_TEXTS[rule.rule],
        "records_rule_own": own,
    }


def _report(session: Session, found: MessageType, what: str, *, as_json: bool) -> None:
    rules = RuleBook.load(session).all()
    if as_json:
        print_json(_type_fields(found, rules))
        return
    rule, own = _installation_rule(rules, found.code)
    which = "egen regel" if own else "regeln för alla andra typer"
    print(
        f"Meddelandetypen {found.code} ({found.name}) {what}: skyddsklass "
        f"{found.protection_class}, arkivregel {RULE_TEXTS[rule.rule]} ({which})."
    )
