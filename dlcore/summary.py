"""Plain-language summaries of runs for the pages: short labels, the table of trials (like the
Keras class's table: architecture, activations, epochs, accuracy...), the curves of a run's
metrics log, and the overfitting signal (validation loss rising while training loss falls).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from dlcore import LayerLabError, attendees
from dlcore.run_comments import read_comment
from dlcore.runs import DAMAGED, FINISHED, model_file, read_metric_rows, read_spec
from dlcore.spec import AUGMENT_FACTORS, AugmentSpec, Experiment, ModelSpec
from dlcore.text import plain

EPOCH_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
_AUGMENT_WORDS = {"rotation": "rotate"}  # the others read as they are named


def architecture_summary(model: ModelSpec) -> str:
    """E.g. ``conv 20-50 / dense 500``; ``x2`` marks conv pairs and ``bn`` batch norm."""
    parts = [f"{model.backbone} (ImageNet)"] if model.backbone else []
    if model.conv_blocks:
        filters = "-".join(
            f"{b.filters}x{b.num_convs}" if b.num_convs > 1 else str(b.filters)
            for b in model.conv_blocks
        )
        norm = " bn" if any(b.batch_norm for b in model.conv_blocks) else ""
        head = "" if model.head == "flatten" else f" {model.head.replace('_', ' ')} pool"
        parts.append(f"conv {filters}{norm}{head}")
    if model.dense_layers:
        parts.append("dense " + "-".join(str(d.units) for d in model.dense_layers))
    return " / ".join(parts) or "softmax only"


def activations_summary(model: ModelSpec) -> str:
    """The hidden layers' activations in order of use, then the softmax output."""
    names = [b.activation for b in model.conv_blocks] + [d.activation for d in model.dense_layers]
    return " / ".join([*dict.fromkeys(names), "softmax"])


def augment_summary(augment: AugmentSpec) -> str:
    """``off``, or the random changes in use, e.g. ``flip horizontal, rotate 0.1``."""
    if not augment.enabled:
        return "off"
    parts = [f"flip {augment.flip}"] if augment.flip != "none" else []
    for name in AUGMENT_FACTORS:
        if getattr(augment, name) > 0:
            parts.append(f"{_AUGMENT_WORDS.get(name, name)} {getattr(augment, name):g}")
    return ", ".join(parts)


def duration_seconds(status: dict) -> float | None:
    """Seconds from the start of training to the end of the run, None if not both known."""
    started, ended = status.get("started"), status.get("ended")
    if started is None or ended is None:  # not started, or not finished yet
        return None
    try:
        start, end = datetime.fromisoformat(str(started)), datetime.fromisoformat(str(ended))
    except ValueError:  # a hand-edited or damaged time
        return None
    return max(0.0, (end - start).total_seconds())


def format_seconds(seconds: float | None) -> str:
    """``1:05`` or ``1:02:03``; an empty string when unknown."""
    if seconds is None or seconds != seconds:  # None or NaN
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def owner_label(status: dict) -> str:
    """The display name of a run's owner, as plain text. The owner id is never shown; a run
    written before ids existed has only "owner", which was then the typed name."""
    return attendees.owner_label(status)  # "anonymous" or "instructor" without a label


def run_label(status: dict) -> str:
    """One readable line (plain text): run id, owner, dataset, model and validation accuracy."""
    parts = [status.get("run_id", "?"), owner_label(status)]
    parts += [status.get("dataset", "?"), status.get("model", "?")]
    accuracy = status.get("val_accuracy")
    parts.append(
        f"val {accuracy:.1%}" if isinstance(accuracy, int | float) else status.get("status", "?")
    )
    return " · ".join(plain(part) for part in parts)


def has_model(run_id: str) -> bool:
    try:
        model_file(run_id)
    except LayerLabError:
        return False
    return True


def usable_runs(statuses: list[dict]) -> list[dict]:
    """Finished runs (completed, or stopped with a checkpoint) that have a saved model; a run
    whose status file is damaged keeps its model usable."""
    done = (*FINISHED, DAMAGED)
    return [s for s in statuses if s.get("status") in done and has_model(s["run_id"])]


def trained_so_far(status: dict, spec: Experiment | None) -> tuple[int | None, float | None]:
    """(epochs finished, validation accuracy of the weights kept). A run that completed all
    its planned epochs has both in its status; one that stopped or still trains says them in
    its metrics log: 13 for a run of 20 cancelled during its 14th, and the validation accuracy
    of its best epoch (the weights it keeps) when it was not evaluated."""
    state, accuracy = status.get("status"), status.get("val_accuracy")
    if state == "queued":
        return 0, accuracy
    if state == "completed" and spec is not None and not spec.training.early_stopping_patience:
        return spec.training.epochs, accuracy
    try:
        rows = [
            row for row in read_metric_rows(str(status.get("run_id", ""))) if row.kind == "epoch"
        ]
    except LayerLabError:
        return None, accuracy
    if accuracy is None and status.get("best_epoch"):
        kept = [row.val_accuracy for row in rows if row.epoch == status["best_epoch"]]
        accuracy = kept[-1] if kept else None
    return max((row.epoch for row in rows), default=0), accuracy


def runs_frame(statuses: list[dict]) -> pd.DataFrame:
    """The table of trials: one row per run with its settings and results. ``epochs`` is the
    number of epochs the run trained, ``planned epochs`` the number it was started with,
    ``val accuracy`` that of the weights it keeps (``trained_so_far``);
    ``sweep`` names the sweep's settings of a run of a sweep (``dlcore.sweep``)."""
    from dlcore.sweep import combination_label

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


def epoch_history(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per finished epoch: epoch, loss, accuracy, val_loss, val_accuracy."""
    if metrics.empty or "kind" not in metrics.columns:
        return pd.DataFrame(columns=EPOCH_COLUMNS)
    epochs = metrics[metrics["kind"] == "epoch"].drop_duplicates("epoch", keep="last")
    return epochs.reindex(columns=EPOCH_COLUMNS).reset_index(drop=True)


def batch_history(metrics: pd.DataFrame, max_points: int = 500) -> pd.DataFrame:
    """Training loss per logged batch (step, loss), thinned to at most ``max_points`` rows so
    a live chart stays light however long the run."""
    if metrics.empty or "kind" not in metrics.columns:
        return pd.DataFrame(columns=["step", "loss"])
    batches = metrics.loc[metrics["kind"] == "batch", ["step", "loss"]]
    every = max(1, -(-len(batches) // max_points))
    thinned = batches.iloc[::every]
    if len(batches) and thinned.index[-1] != batches.index[-1]:
        thinned = pd.concat([thinned, batches.iloc[[-1]]])
    return thinned.reset_index(drop=True)


def overfitting_epoch(epochs: pd.DataFrame, min_rise: float = 0.02) -> int | None:
    """The epoch with the lowest validation loss, when after it the validation loss has risen
    (by ``min_rise`` relative, for at least two epochs) while the training loss kept falling:
    the network is learning its training images by heart. None otherwise."""
    if len(epochs) < 3 or epochs["val_loss"].isna().any():
        return None
    best = int(epochs["val_loss"].to_numpy().argmin())
    last = len(epochs) - 1
    val, train = epochs["val_loss"].to_numpy(), epochs["loss"].to_numpy()
    rising = last - best >= 2 and val[last] > val[best] * (1 + min_rise)
    if rising and train[last] < train[best]:
        return int(epochs["epoch"].iloc[best])
    return None


OVERVIEW_COLUMNS = [
    "attendee", "run", "status", "queue", "progress", "best val accuracy", "dataset", "model",
]  # fmt: skip
LEADERBOARD_COLUMNS = ["place", "attendee", "best val accuracy", "model", "runs", "you"]


def _best_so_far(status: dict) -> tuple[float | None, float | None]:
    """(progress 0-1, best validation accuracy) of a run: from its status once it finished,
    from the latest rows of its metrics log while it trains."""
    state, best = status.get("status"), status.get("val_accuracy")
    if state == "completed":
        return 1.0, best
    if state != "running":
        return (0.0 if state == "queued" else None), best
    try:
        rows = read_metric_rows(str(status.get("run_id", "")))
    except LayerLabError:  # deleted or unreadable meanwhile: nothing to add
        return None, best
    progress = rows[-1].progress if rows else 0.0
    scores = [r.val_accuracy for r in rows if r.kind == "epoch" and r.val_accuracy is not None]
    return progress, max(scores, default=best)


def class_overview(statuses: list[dict]) -> pd.DataFrame:
    """The instructor's table of the room: one row per run, grouped by attendee (their label,
    never their id; "(instructor)" for runs without an owner), newest run first within each.
    ``status`` is the run's phase where ``jobs`` gives one (starting, training...), ``queue``
    the place in the queue of a waiting run, ``progress`` from 0 to 1."""
    rows = []
    for status in statuses:
        progress, best = _best_so_far(status)
        owner = str(status.get("owner") or "")
        rows.append(
            {
                "attendee": (owner_label(status) or "anonymous") if owner else "(instructor)",
                "run": plain(status.get("run_id", "")),
                "status": plain(status.get("phase") or status.get("status", "")),
                "queue": status.get("queue_position"),
                "progress": progress,
                "best val accuracy": best,
                "dataset": plain(status.get("dataset", "")),
                "model": plain(status.get("model", "")),
                "_owner": owner,
                "_created": float(status.get("created_ts") or 0.0),
            }
        )
    frame = pd.DataFrame(rows, columns=[*OVERVIEW_COLUMNS, "_owner", "_created"])
    # the same name typed by two people is two attendees: group by the id, show the label
    frame = frame.sort_values(["attendee", "_owner", "_created"], ascending=[True, True, False])
    frame["queue"] = frame["queue"].astype("Int64")
    return frame[OVERVIEW_COLUMNS].reset_index(drop=True)


def leaderboard(
    statuses: list[dict], dataset: str, viewer: str = "", top: int = 10
) -> pd.DataFrame:
    """The class leaderboard of ``dataset``: each attendee's best validation accuracy, best
    first (the earlier run first on a tie), the ``top`` places plus the ``viewer``'s own place
    when it is lower (``you`` marks their row). Attendees show by their label ("anonymous"
    without one), never by id; runs without an owner (the instructor's) do not compete. The
    caller passes only the runs this viewer may see, on a shared dataset."""
    best: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for status in statuses:
        owner, accuracy = str(status.get("owner") or ""), status.get("val_accuracy")
        if not owner or status.get("dataset") != dataset:
            continue
        if isinstance(accuracy, bool) or not isinstance(accuracy, int | float):
            continue
        counts[owner] = counts.get(owner, 0) + 1
        key = (-float(accuracy), float(status.get("created_ts") or 0.0))
        if owner not in best or key < best[owner]["_key"]:
            best[owner] = {"_key": key, **status}
    ranked = sorted(best.values(), key=lambda s: s["_key"])
    rows = [
        {
            "place": place,
            "attendee": owner_label(status) or "anonymous",
            "best val accuracy": float(status["val_accuracy"]),
            "model": plain(status.get("model", "")),
            "runs": counts[status["owner"]],
            "you": bool(viewer) and status["owner"] == viewer,
        }
        for place, status in enumerate(ranked, start=1)
    ]
    shown = [row for row in rows if row["place"] <= top or row["you"]]
    return pd.DataFrame(shown, columns=LEADERBOARD_COLUMNS)
