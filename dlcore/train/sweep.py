"""Sweeps: one run per combination of up to 4 values of up to 2 settings, as DIGITS sweeps the
learning rate and the batch size. The settings: learning rate, batch size, epochs, dropout (of
every dense layer) and the filters of one conv block.

This module is the sweep as a value: which settings it varies and their values, and the
experiments it expands to. Queuing them is ``dlcore.train.sweep_jobs``; grouping the runs into
sweeps and the grid of their accuracy is ``dlcore.results.sweep_results``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass
from typing import Any

from dlcore import LayerLabError
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
