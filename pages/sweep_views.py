"""Sweeps on the pages: the Train page's "Sweep" expander (up to 4 values of up to 2 settings,
the number of runs shown before anything starts) and the Experiments page's view of one sweep
(the grid of validation accuracy by the two settings, the runs' curves overlaid).

Not a page itself (app.py lists the pages). The rules and the numbers come from
``dlcore.train.sweep``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dlcore import LayerLabError, charts
from dlcore.limits import load_limits
from dlcore.results import charts as result_charts
from dlcore.results import summary, sweep_results
from dlcore.spec import Experiment
from dlcore.text import plain
from dlcore.train import jobs, sweep_jobs
from dlcore.train import sweep as sweeps
from pages import common, identity, state

CANDIDATES = {
    "learning_rate": (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1),
    "batch_size": (8, 16, 32, 64, 128, 256, 512),
    "epochs": (1, 2, 3, 5, 10, 20, 30, 50),
    "dropout": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    "filters": (4, 8, 16, 20, 32, 50, 64, 128, 256),
}
RULE = (
    "A sweep counts as **one job** against your limit; its runs wait in the queue and take "
    "turns with everyone else's runs, one per attendee in turn."
)


def _settings_for(experiment: Experiment) -> list[str]:
    """What this network can sweep: dropout only with a dense layer, the filters of each block."""
    names = ["learning_rate", "batch_size", "epochs"]
    if experiment.model.dense_layers:
        names.append("dropout")
    return names + [f"filters_block_{i}" for i in range(1, len(experiment.model.conv_blocks) + 1)]


def _current(experiment: Experiment, name: str) -> float | int:
    if name.startswith("filters_block_"):
        return experiment.model.conv_blocks[int(name.rsplit("_", 1)[1]) - 1].filters
    if name == "dropout":
        return experiment.model.dense_layers[0].dropout_rate
    return getattr(experiment.training, name)


def _values_control(column, experiment: Experiment, name: str) -> list:
    current = _current(experiment, name)
    key = "filters" if name.startswith("filters_block_") else name
    options = sorted({*CANDIDATES[key], current})
    later = [value for value in options if value > current]
    default = [current, later[0]] if later else options[-2:]
    return column.multiselect(
        f"Values of {sweeps.setting_label(name)} (2 to {sweeps.MAX_VALUES})",
        options,
        default=default,
        max_selections=sweeps.MAX_VALUES,
        format_func=sweeps.format_value,
        key=f"sweep_values_{name}",
    )


def sweep_expander(experiment: Experiment) -> None:
    """The Train page's sweep: choose settings and values, see the runs, start them."""
    with st.expander("Sweep: one run per combination of settings"):
        st.caption(
            "Vary up to 2 settings, with 2 to 4 values each: one run per combination, the "
            "rest as set above. Compare them on the Experiments page, in a grid of "
            f"validation accuracy. {RULE} At most {load_limits().max_sweep_runs} runs per sweep."
        )
        names = st.multiselect(
            f"Settings to vary (at most {sweeps.MAX_SETTINGS})",
            _settings_for(experiment),
            max_selections=sweeps.MAX_SETTINGS,
            format_func=sweeps.setting_label,
            key="sweep_settings",
        )
        if not names:
            st.caption("Choose a setting to vary, e.g. the learning rate and the batch size.")
            return
        columns = st.columns(2)[: len(names)]
        chosen = {
            name: _values_control(column, experiment, name)
            for column, name in zip(columns, names, strict=True)
        }
        try:
            sweep = sweeps.Sweep(tuple((name, tuple(values)) for name, values in chosen.items()))
            sweeps.expand(experiment, sweep)  # a value this network cannot take, said now
        except LayerLabError as error:
            st.warning(common.md(str(error)))
            return
        sizes = " × ".join(str(len(values)) for values in chosen.values())
        st.markdown(f"**{sweep.num_runs} runs** ({sizes}), each with the settings above.")
        _start_button(experiment, sweep)


def _start_button(experiment: Experiment, sweep: sweeps.Sweep) -> None:
    label = identity.attendee_label()
    if st.button(
        f"Start the sweep ({sweep.num_runs} runs)",
        icon=":material/grid_view:",
        disabled=not label,
        help=None if label else "Type your name on the Start page first.",
    ):
        try:
            sweep_id, run_ids = sweep_jobs.submit_sweep(
                experiment, sweep, instructor=identity.is_instructor(), owner_label=label
            )
        except LayerLabError as error:
            common.show_error(error)
            return
        state.set_run(run_ids[0])
        st.session_state["sweep_started"] = (sweep_id, len(run_ids))
        st.rerun()  # the sidebar and the run below show the sweep's first run
    started = st.session_state.get("sweep_started")
    if started:
        st.success(f"Sweep queued: {started[1]} runs. The first one is shown below.")
        st.page_link(
            "pages/experiments.py",
            label="Compare them in Experiments",
            icon=":material/table_chart:",
        )


def _sweep_label(group: dict) -> str:
    first = group["status"]
    settings = " × ".join(sweeps.setting_label(name) for name in group["settings"])
    parts = [summary.owner_label(first), first.get("dataset", "?"), first.get("model", "?")]
    parts += [settings, f"{group['runs']} runs", group["sweep"]]
    return " · ".join(plain(part) for part in parts)


def _curves(statuses: list[dict]) -> None:
    """The validation curves of the sweep's runs, one colour per combination."""
    frames = []
    for status in statuses:
        history = summary.epoch_history(jobs.read_metrics(status["run_id"]))
        if len(history):
            tidy = charts.tidy_history(history)
            label = sweeps.combination_label(status.get("sweep_values") or {})
            validation = tidy[tidy["split"] == "validation"].drop(columns="split")
            frames.append(validation.assign(run=label))
    if frames:
        st.altair_chart(charts.runs_overlay(pd.concat(frames, ignore_index=True)))
        st.caption("Validation accuracy and loss per epoch, one colour per combination.")
    else:
        st.caption("No run of this sweep has finished an epoch yet.")


def sweep_section(statuses: list[dict]) -> None:
    """The Experiments page's sweeps: choose one, see its grid and its curves."""
    groups = {group["sweep"]: group for group in sweep_results.sweeps(statuses)}
    if not groups:
        return
    st.subheader("Sweeps")
    chosen = st.selectbox("Sweep", list(groups), format_func=lambda s: _sweep_label(groups[s]))
    group, runs = groups[chosen], sweep_results.sweep_runs(statuses, chosen)
    names = group["settings"]
    if not names:
        st.caption("These runs do not record their sweep's settings.")
        return
    st.caption(
        f"{group['finished']} of {group['runs']} runs finished. Validation accuracy of the "
        "weights each run kept, by "
        + " and ".join(sweeps.setting_label(name) for name in names)
        + "."
    )
    y_title = sweeps.setting_label(names[1]) if len(names) > 1 else None
    cells = sweep_results.grid_cells(runs)
    heatmap = result_charts.sweep_heatmap(cells, sweeps.setting_label(names[0]), y_title)
    st.altair_chart(heatmap, width="content")  # cells of a readable size, not stretched
    best = sweep_results.best_run(runs)
    if best:
        label = sweeps.combination_label(best.get("sweep_values") or {})
        st.markdown(
            f"Best so far: **{common.md(label)}**, validation accuracy "
            f"{best['val_accuracy']:.1%} (run {common.md(best['run_id'])})."
        )
    _curves(runs)
