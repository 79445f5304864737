"""Every sub-command and every option of ``benchpin`` says what it is for."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from benchpin.cli import build_parser


def walk(parser: argparse.ArgumentParser, name: str = "benchpin") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Yield every parser under ``parser`` with its command line (``benchpin engraver list``)."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from walk(sub, f"{name} {sub_name}")


PARSERS = list(walk(build_parser()))


def test_the_walk_reaches_the_nested_commands():
    names = {name for name, _ in PARSERS}
    assert {"benchpin check-config", "benchpin pieces import", "benchpin operators add", "benchpin operators list",
            "benchpin engraver list", "benchpin engraver retry", "benchpin engraver cancel", "benchpin kiosk",
            "benchpin gateway", "benchpin demo"} <= names


@pytest.mark.parametrize("name, parser", PARSERS, ids=[name for name, _ in PARSERS])
def test_every_option_argument_and_sub_command_has_help(name: str, parser: argparse.ArgumentParser) -> None:
    missing = []
    for action in parser._actions:
        label = "/".join(action.option_strings) or action.metavar or action.dest
        if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
            missing.append(str(label))
        if isinstance(action, argparse._SubParsersAction):
            missing += [f"{choice.dest} (sub-command)" for choice in action._choices_actions
                        if not (choice.help or "").strip()]
    assert not missing, f"{name}: no help for {', '.join(missing)}"
    assert (parser.description or "").strip(), f"{name}: no description for its --help"


def test_check_config_help_names_both_ways_to_give_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["check-config", "--help"])
    out = capsys.readouterr().out
    assert "--config FILE" in out and "[FILE]" in out
