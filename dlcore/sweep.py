"""Sweeps: one run per combination of up to 4 values of up to 2 settings, as DIGITS sweeps the
learning rate and the batch size. The settings: learning rate, batch size, epochs, dropout (of
every dense layer) and the filters of one conv block.

How a sweep meets the job limits, the rule a teacher can state in one breath: **a sweep counts
as one job** against an attendee's ``max_jobs_per_owner``; its runs wait in the fair queue and
take turns with everyone else's runs (round robin), so a sweep never holds back another
attendee's first run. A sweep has at most ``max_sweep_runs`` runs (16 = 4 x 4 by default) and
each of its runs counts toward the server's ``max_jobs_total``. A sweep that would pass a limit
is refused whole, before any of its runs is queued.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dlcore import LayerLabError, jobs
from dlcore.limits import Limits, load_limits
from dlcore.runs import ACTIVE, read_all_statuses
from dlcore.spec import Experiment

MAX_SETTINGS = 2
MAX_VALUES = 4
SETTINGS = {  # name: (label, short label, type of its values)
    "learning_rate": ("learning rate", "lr", float),
    "batch_size": ("batch size", "batch", int),
    "epochs": ("epochs", "epochs", int),
    "dropout": ("dropout", "dropout", float),
}
FILTERS = re.compile(r"filters_block_([1-8])")  # filters_block_2: the second conv block's


def is_setting(name: object) -> bool:
    return isinstance(name, str) and (name in SETTINGS or FILTERS.fullmatch(name) is not None)


def _known(name: object) -> str:
    if not is_setting(name):
        choices = ", ".join([*SETTINGS, "filters_block_1 ... filters_block_8"])
        raise LayerLabError(f"A sweep cannot vary {name!r}; choose from {choices}.")
    return str(name)


def _rank(name: str) -> int:
    """Settings in one fixed order (the grid's columns first): a run's status file keeps no
    order of its keys, so every view sorts them the same way."""
    match = FILTERS.fullmatch(name)
    return len(SETTINGS) + int(match[1]) if match else list(SETTINGS).index(name)


def ordered(names) -> list[str]:
    return sorted(names, key=_rank)


def setting_label(name: str, short: bool = False) -> str:
    """``learning rate`` (``lr`` when ``short``); ``filters of block 2`` (``filters b2``)."""
    match = FILTERS.fullmatch(name)
    if match:
        return f"filters b{match[1]}" if short else f"filters of block {match[1]}"
    return SETTINGS[name][1 if short else 0]


def value_type(name: str) -> type:
    return int if FILTERS.fullmatch(name) else SETTINGS[name][2]


def format_value(value: float | int) -> str:
    return f"{value:g}"


def _checked_values(name: str, values: Any) -> tuple:
    if not isinstance(values, list | tuple):
        raise LayerLabError(f"The values of {name} must be a list, e.g. [0.001, 0.01].")
    kind, label = value_type(name), setting_label(name)
    if not 2 <= len(values) <= MAX_VALUES:
        raise LayerLabError(
            f"{len(values)} value(s) of {label}; a sweep needs 2 to {MAX_VALUES} of each setting "
            "(one value is a plain run: set it on the Train page)."
        )
    for value in values:
        wrong = isinstance(value, bool) or not isinstance(value, int | float)
        if wrong or (kind is int and not float(value).is_integer()):
            noun = "a whole number" if kind is int else "a number"
            raise LayerLabError(f"{label.capitalize()} value {value!r} is not {noun}.")
    cleaned = tuple(kind(value) for value in values)
    if len(set(cleaned)) < len(cleaned):
        raise LayerLabError(f"A value of {label} is listed twice; give each value once.")
    return cleaned


@dataclass(frozen=True)
class Sweep:
    """The settings a sweep varies, each with its values: ``(("learning_rate", (0.001,
    0.01)), ("batch_size", (32, 128)))``. The first setting is the grid's columns, the second
    its rows, in the fixed order of ``SETTINGS`` (learning rate, batch size, epochs, dropout,
    filters). Checks its own shape; whether the values suit a network is ``expand``'s job."""

    settings: tuple[tuple[str, tuple], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.settings, list | tuple) or not self.settings:
            raise LayerLabError("A sweep needs at least one setting to vary, with 2-4 values.")
        if len(self.settings) > MAX_SETTINGS:
            raise LayerLabError(
                f"{len(self.settings)} settings; a sweep varies at most {MAX_SETTINGS} "
                "(the grid has two sides): fix the others on the Train page."
            )
        pairs = []
        for pair in self.settings:
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise LayerLabError(f"{pair!r} is not a (setting, values) pair.")
            name = _known(pair[0])
            pairs.append((name, _checked_values(name, pair[1])))
        if len({name for name, _ in pairs}) < len(pairs):
            raise LayerLabError(f"{pairs[0][0]} is given twice; vary two different settings.")
        object.__setattr__(self, "settings", tuple(sorted(pairs, key=lambda p: _rank(p[0]))))

    @classmethod
    def from_dict(cls, payload: dict) -> Sweep:
        """From ``{"learning_rate": [0.001, 0.01], "batch_size": [32, 128]}``."""
        if not isinstance(payload, dict):
            raise LayerLabError("A sweep is a mapping of settings to lists of values.")
        return cls(tuple(payload.items()))

    def to_dict(self) -> dict:
        return {name: list(values) for name, values in self.settings}

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.settings]

    @property
    def num_runs(self) -> int:
        count = 1
        for _, values in self.settings:
            count *= len(values)
        return count

    def combinations(self) -> list[dict]:
        """One ``{setting: value}`` per run, the first setting varying slowest."""
        grids = itertools.product(*(values for _, values in self.settings))
        return [dict(zip(self.names, combo, strict=True)) for combo in grids]


def combination_label(values: dict) -> str:
    """``lr 0.001 · batch 32``: a run of a sweep in a legend or a table."""
    return " · ".join(
        f"{setting_label(name, short=True)} {format_value(values[name])}"
        for name in ordered(values)
    )


def apply(experiment: Experiment, values: dict) -> Experiment:
    """``experiment`` with the settings of one combination; the spec's own checks refuse a
    value it cannot take (e.g. a batch size of 0), a missing block or dropout without a dense
    layer with a message saying what to change."""
    training, model = {}, experiment.model
    for name, value in values.items():
        _known(name)
        match = FILTERS.fullmatch(name)
        if match:
            index = int(match[1]) - 1
            blocks = model.conv_blocks
            if index >= len(blocks):
                which = f"the filters of block 1 to {len(blocks)}" if blocks else "another setting"
                raise LayerLabError(
                    f"This network has {len(blocks)} conv block(s), no block {index + 1}: sweep "
                    f"{which}, or add conv blocks on the Model page."
                )
            changed = dataclasses.replace(blocks[index], filters=int(value))
            model = dataclasses.replace(
                model, conv_blocks=(*blocks[:index], changed, *blocks[index + 1 :])
            )
        elif name == "dropout":
            if not model.dense_layers:
                raise LayerLabError(
                    "This network has no dense layer for the dropout to act on: add one on the "
                    "Model page, or sweep another setting."
                )
            layers = tuple(
                dataclasses.replace(d, dropout_rate=float(value)) for d in model.dense_layers
            )
            model = dataclasses.replace(model, dense_layers=layers)
        else:
            training[name] = value
    training_spec = dataclasses.replace(experiment.training, **training)
    return dataclasses.replace(experiment, model=model, training=training_spec)


def expand(experiment: Experiment, sweep: Sweep) -> list[Experiment]:
    """One Experiment per combination of the sweep's values, in ``combinations()`` order,
    each named after its combination (``lr 0.001 · batch 32``)."""
    specs = []
    for values in sweep.combinations():
        name = combination_label(values)
        name = f"{experiment.name} · {name}" if experiment.name else name
        specs.append(dataclasses.replace(apply(experiment, values), name=name[:80]))
    return specs


def parse_values(name: str, text: str) -> tuple:
    """The values of setting ``name`` typed as ``0.001,0.01`` (one value gives a 1-tuple)."""
    kind, label = value_type(_known(name)), setting_label(name)
    values = []
    for part in str(text).split(","):
        try:
            number = float(part.strip())
        except ValueError:
            raise LayerLabError(
                f"{label.capitalize()} {part.strip()!r} is not a number; give values separated "
                "by commas, e.g. 0.001,0.01 or 32,128."
            ) from None
        if kind is int and not number.is_integer():
            raise LayerLabError(f"{label.capitalize()} {part.strip()!r} is not a whole number.")
        values.append(kind(number))
    return tuple(values)


def from_options(options: dict[str, str]) -> tuple[Sweep, dict]:
    """(the sweep, the fixed settings) from typed values per setting (the CLI's options): a
    setting given 2 or more values is swept, one given a single value is set for every run."""
    parsed = {name: parse_values(name, text) for name, text in options.items()}
    fixed = {name: values[0] for name, values in parsed.items() if len(values) == 1}
    swept = tuple((name, values) for name, values in parsed.items() if len(values) > 1)
    if not swept:
        raise LayerLabError(
            "Nothing to sweep: give a setting two or more values separated by commas, e.g. "
            "--learning-rate 0.001,0.01 --batch-size 32,128."
        )
    return Sweep(swept), fixed


def new_sweep_id() -> str:
    return "sw-" + time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()


def check_sweep(
    experiments: list[Experiment], limits: Limits, owner: str, instructor: bool = False
) -> None:
    """Refuse, before any run is queued, a sweep that a limit would stop part-way."""
    count = len(experiments)
    if count > limits.max_sweep_runs:
        raise LayerLabError(
            f"This sweep has {count} runs; this server allows {limits.max_sweep_runs} per sweep "
            "(max_sweep_runs): choose fewer values."
        )
    active = [s for s in read_all_statuses() if s.status in ACTIVE]
    mine = {s.sweep or s.run_id for s in active if s.owner == owner}
    if len(mine) >= limits.max_jobs_per_owner:
        raise LayerLabError(
            f"You already have {len(mine)} job(s) queued or running (limit "
            f"{limits.max_jobs_per_owner} per attendee; a sweep counts as one job): wait for one "
            "to finish or cancel it, then start the sweep."
        )
    if len(active) + count > limits.max_jobs_total:
        raise LayerLabError(
            f"The server has {len(active)} runs queued or running; {count} more would pass its "
            f"limit of {limits.max_jobs_total}: choose fewer values or wait for some to finish."
        )
    for experiment in experiments:  # epochs, batch size, network size, dataset access
        jobs.check_submission(experiment, limits, instructor)


def submit_sweep(
    experiment: Experiment,
    sweep: Sweep,
    limits: Limits | None = None,
    instructor: bool = False,
    owner_label: str = "",
) -> tuple[str, list[str]]:
    """Queue one run per combination through ``jobs.submit`` (the fair queue and the job
    limits apply) and return (sweep id, run ids). All or nothing: a sweep a limit would refuse
    part-way is refused before any run is queued, and should a run still be refused (another
    submission took the last place meanwhile) the runs already queued are withdrawn."""
    limits = limits or load_limits()
    experiments = expand(experiment, sweep)
    if len(experiments) < 2:
        raise LayerLabError("A sweep needs at least 2 runs; start a single run with Train.")
    check_sweep(experiments, limits, experiment.owner, instructor)
    sweep_id, run_ids = new_sweep_id(), []
    try:
        for spec, values in zip(experiments, sweep.combinations(), strict=True):
            tags = {"sweep": sweep_id, "sweep_values": values}
            run_ids.append(jobs.submit(spec, limits, instructor, owner_label, **tags))
    except LayerLabError:
        _withdraw(run_ids)
        raise
    return sweep_id, run_ids


def _withdraw(run_ids: list[str]) -> None:
    for run_id in run_ids:
        jobs.cancel(run_id)
        with contextlib.suppress(LayerLabError):  # one that had started stops by itself
            jobs.delete(run_id)


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
    """One cell per run of a sweep for ``charts.sweep_heatmap``: x and y (the first and second
    setting's values as text, ordered by value; y "" for one setting), val_accuracy and text
    (the accuracy in percent, else the run's state)."""
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


def wait_sweep(
    run_ids: list[str], on_finish: Callable[[dict], None] | None = None, poll: float = 0.5
) -> list[dict]:
    """Block until every run has finished; call ``on_finish`` with each final status as it
    finishes; return the final statuses in the order the runs finished."""
    waiting, finals = list(run_ids), []
    while waiting:
        for run_id in list(waiting):
            current = jobs.status(run_id)
            if current["status"] not in ACTIVE:
                waiting.remove(run_id)
                finals.append(current)
                if on_finish is not None:
                    on_finish(current)
        if waiting:
            time.sleep(poll)
    return finals
