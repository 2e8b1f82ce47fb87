"""A print file is one file whichever way it comes in: taken from the watched folder, the same
PDF handed in by the API's or the command line's way (`take_print_file` with
`print_file_key`) only finds the letters already made."""

from __future__ import annotations

from support.print_files import RECIPIENTS, anchor_file
from utskick.db.engine import session_factory
from utskick.intake.printfile import print_file_key, take_print_file


def test_the_same_print_file_by_folder_then_by_hand_is_sent_once(world, tmp_path):
    source = _source(world)
    pdf = anchor_file()
    world.drop("beslut.pdf", pdf)
    world.poll(source)
    assert world.letter_count() == len(RECIPIENTS)
    by_folder = {letter.id for letter in world.letters()}

    copy = tmp_path / "beslut-igen.pdf"
    copy.write_bytes(pdf)
    receipt = take_print_file(
        sessions=session_factory(world.engine),
        settings=world.settings,
        system=_system(world),
        source=source,
        pdf=copy,
        control=None,
        file_key=print_file_key(source, copy, None),
        actor="cli",
    )

    assert receipt.accepted == len(RECIPIENTS)
    assert [letter.created for letter in receipt.letters] == [False] * len(RECIPIENTS)
    assert {letter.letter_id for letter in receipt.letters} == by_folder
    assert world.letter_count() == len(RECIPIENTS)


def test_under_the_file_name_rule_the_name_counts_too(world, tmp_path):
    source = _source(world, recipient={"rule": "filename"})
    first = tmp_path / "191212121212_beslut.pdf"
    second = tmp_path / "198004232388_beslut.pdf"
    pdf = anchor_file(RECIPIENTS[:1], pages_per_letter=1)
    first.write_bytes(pdf)
    second.write_bytes(pdf)

    assert print_file_key(source, first) != print_file_key(source, second)
    assert print_file_key(_source(world), first) == print_file_key(_source(world), second)


def _source(world, **fields):
    return world.source(subject="Beslut från Exempelkommun", message_type="beslut", **fields)


def _system(world):
    from utskick.senders.repository import SendingSystemRepository

    with session_factory(world.engine)() as session:
        system = SendingSystemRepository(session).by_name(_source(world).system)
        session.expunge(system)
        return system
