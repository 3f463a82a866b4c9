"""The table of trials (like the Keras class's table: architecture, activations, epochs,
accuracy...): one row per run, as a frame, as a page shows it, and as CSV for a spreadsheet."""

from __future__ import annotations

import pandas as pd

from dlcore import LayerLabError
from dlcore.results.summary import (
    activations_summary,
    architecture_summary,
    augment_summary,
    duration_seconds,
    format_seconds,
    owner_label,
    trained_so_far,
)
from dlcore.text import plain
from dlcore.train.run_comments import read_comment
from dlcore.train.runs import read_spec


def runs_frame(statuses: list[dict]) -> pd.DataFrame:
    """The table of trials: one row per run with its settings and results. ``epochs`` is the
    number of epochs the run trained, ``planned epochs`` the number it was started with,
    ``val accuracy`` that of the weights it keeps (``trained_so_far``);
    ``sweep`` names the sweep's settings of a run of a sweep (``dlcore.train.sweep``)."""
    from dlcore.train.sweep import combination_label

    rows = []
    for status in statuses:
        row = {"run": status["run_id"], "owner": owner_label(status)}  # ids: generated, safe
        row["dataset"] = plain(status.get("dataset", ""))
        try:
            spec = read_spec(status["run_id"])
        except LayerLabError:
            spec = None
        if spec is not None:
            row["architecture"] = f"{spec.model.preset}: {architecture_summary(spec.model)}"
            if spec.training.from_run:  # transfer learning: where its first layers came from
                row["architecture"] += f", from run {spec.training.from_run}"
            row["activations"] = activations_summary(spec.model)
            row["planned epochs"] = spec.training.epochs
            row["optimizer"] = spec.training.optimizer
            row["learning rate"] = spec.training.learning_rate
            row["batch size"] = spec.training.batch_size
            row["augmentation"] = augment_summary(spec.augment)
        row["epochs"], accuracy = trained_so_far(status, spec)
        row["sweep"] = combination_label(status.get("sweep_values") or {})
        row["parameters"] = status.get("num_params")
        row["time (s)"] = duration_seconds(status)
        row["val accuracy"] = accuracy
        row["test accuracy"] = status.get("test_accuracy")
        row["status"] = plain(status.get("status", ""))
        row["comment"] = read_comment(status["run_id"])
        rows.append(row)
    columns = [
        "run",
        "owner",
        "dataset",
        "architecture",
        "val accuracy",  # the results first: a laptop screen shows them without scrolling
        "test accuracy",
        "epochs",
        "planned epochs",
        "optimizer",
        "learning rate",
        "batch size",
        "augmentation",
        "activations",
        "parameters",
        "time (s)",
        "status",
        "sweep",
        "comment",  # last, as in the class's table of trials
    ]
    return pd.DataFrame(rows, columns=columns)


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP's CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    if not isinstance(value, str):
        return value
    text = plain(value)
    return "'" + text if text.lstrip().startswith(_FORMULA_START) else text


MISSING = "—"  # a figure a run does not have (yet): never "None" on a page


def _shown(value: object, text, width: int = 0) -> str:
    """``text(value)`` padded on the left to ``width``, or the dash for a missing value. Equal
    widths make a table's text sort as the numbers would."""
    if value is None or (isinstance(value, float) and value != value):
        return MISSING
    return str(text(value)).rjust(width)


def _rate(value: float) -> str:
    return f"{value:.10f}".rstrip("0").rstrip(".")  # 0.001, never 1e-03: sorts as text


def _epochs(row: pd.Series) -> str:
    done, planned = row["epochs"], row["planned epochs"]
    if done is None or done != done:
        return MISSING
    late = planned is not None and planned == planned and int(done) != int(planned)
    return f"{int(done):>4}" + (f" of {int(planned)}" if late else "")


def shown_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The table of trials (``runs_frame``) as a page shows it: every cell text, accuracies as
    81.2% (as on every page), times as 1:05, "13 of 20" for a run stopped before its planned
    epochs, a dash for a missing figure. Numbers are padded to one width, so clicking a
    heading still sorts them by value; ``planned epochs`` is folded into ``epochs``."""
    shown = frame.drop(columns=["planned epochs"]).astype(object)
    formats = {
        "val accuracy": (lambda v: f"{v:.1%}", 6),
        "test accuracy": (lambda v: f"{v:.1%}", 6),
        "learning rate": (_rate, 0),
        "batch size": (lambda v: f"{int(v)}", 5),
        "parameters": (lambda v: f"{int(v):,}", 13),
        "time (s)": (format_seconds, 8),
    }
    for column, (text, width) in formats.items():
        shown[column] = [_shown(value, text, width) for value in frame[column]]
    shown["epochs"] = [_epochs(row) for _, row in frame.iterrows()]
    return shown.map(lambda v: _shown(v, str))


def runs_csv(frame: pd.DataFrame) -> bytes:
    """The table of trials (``runs_frame``) as CSV for a spreadsheet: text as plain text, and a
    text cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) starts
    with a single quote; numbers stay numbers. UTF-8 with a byte-order mark, without which
    Excel reads accented names as another encoding."""
    return frame.map(_csv_cell).to_csv(index=False).encode("utf-8-sig")
