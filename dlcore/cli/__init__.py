"""The ``dlcore`` command: the lab's functions for instructors and scripts.

Exit codes: 0 success, 1 a job that failed or was cancelled, 2 bad usage or bad input (with a
one-line message on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from dlcore import LayerLabError
from dlcore.cli import data as cli_data
from dlcore.cli import results as cli_results
from dlcore.cli import runs as cli_runs
from dlcore.cli import train as cli_train


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (what is wrong, where to read more)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    """The command and its subcommands, grouped by the workshop's steps."""
    parser = _Parser(prog="dlcore", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for step in (cli_data, cli_train, cli_runs, cli_results):
        step.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # TensorFlow's C++ log lines are noise in a terminal; commands import it only once they
    # load or train a model, so a command that fails earlier prints its message alone.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LayerLabError as error:
        print(f"dlcore: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        where = f": {error.filename}" if getattr(error, "filename", None) else ""
        print(f"dlcore: {error.strerror or error}{where}; check the path.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
