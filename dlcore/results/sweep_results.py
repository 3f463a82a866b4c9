"""A sweep's results: the runs grouped into sweeps, the grid of their validation accuracy
(as a table and as heatmap cells), the best run and the CLI's record of a run."""

from __future__ import annotations

import pandas as pd

from dlcore import LayerLabError
from dlcore.train.runs import ACTIVE
from dlcore.train.sweep import combination_label, format_value, ordered, setting_label


def sweeps(statuses: list[dict]) -> list[dict]:
    """The sweeps among ``statuses`` (newest first, as ``jobs.list_runs`` gives them): id,
    settings, number of runs, and the owner, dataset and model of its first run."""
    found: dict[str, dict] = {}
    for status in statuses:
        sweep_id = status.get("sweep")
        if not sweep_id:
            continue
        entry = found.setdefault(
            sweep_id,
            {
                "sweep": sweep_id,
                "settings": ordered(status.get("sweep_values") or {}),
                "runs": 0,
                "finished": 0,
                "status": status,
            },
        )
        entry["runs"] += 1
        entry["finished"] += status.get("status") not in ACTIVE
    return list(found.values())


def sweep_runs(statuses: list[dict], sweep_id: str) -> list[dict]:
    return [status for status in statuses if status.get("sweep") == sweep_id]


def sweep_frame(statuses: list[dict]) -> pd.DataFrame:
    """One row per run of a sweep: run, label, status, each swept setting, val_accuracy."""
    rows = []
    for status in statuses:
        values = status.get("sweep_values") or {}
        accuracy = status.get("val_accuracy")
        rows.append(
            {
                "run": status.get("run_id", ""),
                "label": combination_label(values),
                "status": status.get("status", ""),
                **values,
                "val_accuracy": float(accuracy) if isinstance(accuracy, int | float) else None,
            }
        )
    return pd.DataFrame(rows)


def sweep_table(statuses: list[dict]) -> pd.DataFrame:
    """The grid of validation accuracy of one sweep's runs: the first setting's values as
    columns, the second's as rows (one row, "val accuracy", for a one-setting sweep); NaN for
    a run without a figure yet. Axes are named by the settings' labels."""
    ids = {status.get("sweep") for status in statuses}
    if len(ids) != 1 or None in ids:
        raise LayerLabError("sweep_table needs the runs of one sweep (see sweep_runs).")
    frame = sweep_frame(statuses)
    frame["val_accuracy"] = pd.to_numeric(frame["val_accuracy"], errors="coerce")
    names = ordered(statuses[0].get("sweep_values") or {})
    if not names:
        raise LayerLabError("These runs do not record their sweep's settings.")
    rows = names[1] if len(names) > 1 else None
    if rows is None:
        frame = frame.assign(_row="val accuracy")
    grid = frame.pivot_table(
        index=rows or "_row", columns=names[0], values="val_accuracy", aggfunc="max", dropna=False
    )
    grid = grid.reindex(index=sorted(grid.index), columns=sorted(grid.columns))
    grid.columns.name = setting_label(names[0])
    grid.index.name = setting_label(rows) if rows else None
    return grid


def grid_cells(statuses: list[dict]) -> pd.DataFrame:
    """One cell per run of a sweep for ``dlcore.results.charts.sweep_heatmap``: x and y (the first
    and second setting's values as text, ordered by value; y "" for one setting), val_accuracy and
    text (the accuracy in percent, else the run's state)."""
    names = ordered(statuses[0].get("sweep_values") or {}) if statuses else []
    rows = []
    for status in statuses:
        values = status.get("sweep_values") or {}
        accuracy = status.get("val_accuracy")
        scored = isinstance(accuracy, int | float) and not isinstance(accuracy, bool)
        rows.append(
            {
                "_x": values.get(names[0], 0),
                "_y": values.get(names[1], 0) if len(names) > 1 else 0,
                "val_accuracy": float(accuracy) if scored else None,
                "text": f"{accuracy:.1%}" if scored else str(status.get("status", "")),
            }
        )
    cells = pd.DataFrame(rows, columns=["_x", "_y", "val_accuracy", "text"])
    cells = cells.sort_values(["_y", "_x"], kind="stable")
    cells["x"] = cells["_x"].map(format_value)
    cells["y"] = cells["_y"].map(format_value) if len(names) > 1 else ""
    cells["val_accuracy"] = pd.to_numeric(cells["val_accuracy"], errors="coerce")
    return cells[["x", "y", "val_accuracy", "text"]].reset_index(drop=True)


def best_run(statuses: list[dict]) -> dict | None:
    """The run with the highest validation accuracy (the earliest on a tie), None if none has
    one yet."""
    scored = [s for s in statuses if isinstance(s.get("val_accuracy"), int | float)]
    return max(
        scored, key=lambda s: (s["val_accuracy"], -float(s.get("created_ts") or 0.0)), default=None
    )


def run_record(status: dict) -> dict:
    """A finished run of a sweep as the CLI prints it (one JSON line)."""
    keys = ("status", "val_accuracy", "test_accuracy", "best_epoch", "message")
    values = status.get("sweep_values") or {}
    return {
        "run_id": status.get("run_id"),
        "sweep": status.get("sweep"),
        **{name: values[name] for name in ordered(values)},
        **{key: status.get(key) for key in keys},
    }
