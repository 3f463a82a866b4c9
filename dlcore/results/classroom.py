"""The class as a whole: the instructor's overview of the room (every run, grouped by
attendee, with its progress) and the leaderboard of a shared dataset."""

from __future__ import annotations

import pandas as pd

from dlcore import LayerLabError
from dlcore.results.summary import owner_label
from dlcore.text import plain
from dlcore.train.run_outputs import read_metric_rows

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
