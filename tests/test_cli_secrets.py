"""README: "Passwords and keys never come as arguments: from a file (first line), stdin (`-`)
or a prompt." Every option and positional argument of both command lines (`quarry`,
`quarry-practitioner`), every subcommand walked, that names a password, a mnemonic, a private
key or a secret takes a file's path (its name ends in `-file`, or it is `--keystore`, a
keystore file), never the secret itself: a secret given as an argument would be in the
shell's history and in every process listing."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

from practitioner.cli import build_parser as practitioner_parser
from wallet.cli import build_parser as wallet_parser

SECRET = re.compile(r"pass(word|phrase)?|mnemonic|private|secret|seed[-_]?phrase", re.IGNORECASE)


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))
        else:
            yield path, action


def test_no_command_takes_a_secret_as_an_argument():
    seen = 0
    for build in (wallet_parser, practitioner_parser):
        for path, action in _walk(build()):
            names = action.option_strings or [action.dest]
            if not any(SECRET.search(name) for name in [*names, action.dest]):
                continue
            seen += 1
            if action.nargs == 0:  # a flag (--share-key-with-workers): no value to leak
                continue
            assert all(name.endswith("-file") or name == "--keystore" for name in names), (path, names)
    assert seen >= 40  # the walk reached the subcommands (wallet import, post, run, ...)
