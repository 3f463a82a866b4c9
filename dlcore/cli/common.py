"""What the ``dlcore`` command's subcommands share: the ``--owner`` and ``--label`` options and
aligned tables of plain text."""

from __future__ import annotations

import argparse

from dlcore import LayerLabError
from dlcore.attendees import is_attendee_id
from dlcore.text import plain


def print_table(rows: list[dict], columns: list[str]) -> None:
    """Aligned columns; names people chose are printed as plain text (no bidi controls,
    escape sequences or line breaks that would garble the terminal)."""
    cells = [{c: "" if row.get(c) is None else plain(row[c]) for c in columns} for row in rows]
    widths = {c: max(len(c), *(len(r[c]) for r in cells)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in cells:
        print("  ".join(row[c].ljust(widths[c]) for c in columns))


def owner_arguments(p: argparse.ArgumentParser) -> None:
    """``--owner ID`` and ``--label NAME``: whose import or run it is, and the name shown."""
    help_owner = "attendee id (a-..., as `dlcore jobs` lists it); default: shared"
    p.add_argument("--owner", default="", help=help_owner)
    p.add_argument("--label", default="", help="the owner's name as pages show it")


def owner_id(text: str) -> str:
    """An attendee id for ``--owner`` ("" = shared by everyone); a typed name is no identity."""
    if text and not is_attendee_id(text):
        raise LayerLabError(
            f"--owner {text!r} is not an attendee id: give the id (a- and 20 hex digits) that "
            "`dlcore jobs` lists in its owner column, and the name with --label."
        )
    return text
