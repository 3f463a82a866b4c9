"""``dlcore wait``, ``jobs``, ``comment``, ``cancel`` and ``delete``: the runs once started."""

from __future__ import annotations

import json
import time

from dlcore.cli.common import print_table
from dlcore.text import plain


def cmd_wait(args) -> int:
    """Wait for every run (``--timeout`` seconds for all together), print their final records;
    0 when all completed, 1 otherwise (failed, cancelled, or still going at the timeout)."""
    from dlcore.train import jobs

    for run_id in args.runs:
        jobs.status(run_id)  # an unknown run id is refused before any waiting
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    finals = []
    for run_id in args.runs:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        finals.append(jobs.wait(run_id, timeout=left))
    if args.json:
        print(json.dumps(finals, default=str))
    else:
        for final in finals:
            print(plain(f"{final['run_id']}: {final.get('status')} - {final.get('message')}"))
    return 0 if all(final.get("status") == "completed" for final in finals) else 1


def cmd_jobs(args) -> int:
    from dlcore.train import jobs
    from dlcore.train.run_comments import read_comment

    rows = jobs.list_runs(owner=args.owner)
    if args.json:
        rows = [row | {"comment": read_comment(row["run_id"])} for row in rows]
        print(json.dumps(rows, default=str))
    elif not rows:
        print("no runs yet: start one with `dlcore train`")
    else:
        columns = ["run_id", "status", "queue_position", "owner_label", "owner", "dataset"]
        print_table(rows, [*columns, "model", "val_accuracy"])
    return 0


def cmd_comment(args) -> int:
    from dlcore.train import jobs

    saved = jobs.comment(args.run, args.text)  # the CLI is the instructor's: any owner's run
    print(f"{args.run}: comment {'saved: ' + saved if saved else 'cleared'}")
    return 0


def cmd_cancel(args) -> int:
    from dlcore.train import jobs

    for run_id in args.runs:
        print(f"{run_id}: {jobs.cancel(run_id).get('status')}")
    return 0


def cmd_delete(args) -> int:
    from dlcore.train import jobs

    for run_id in args.runs:
        jobs.delete(run_id)
        print(f"{run_id}: deleted")
    return 0


def add_parsers(sub) -> None:
    """The subcommands ``wait``, ``jobs``, ``comment``, ``cancel``, ``delete``."""
    p = sub.add_parser("wait", help="wait for runs to finish and print their final records")
    p.add_argument("runs", nargs="+")
    p.add_argument("--timeout", type=float, help="seconds for all of them (default: no limit)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_wait)
    p = sub.add_parser("jobs", help="list runs and their status")
    p.add_argument("--owner")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_jobs)
    p = sub.add_parser("comment", help="set a run's comment in the table of trials")
    p.add_argument("run")
    p.add_argument("text", help='plain text, at most 500 characters; "" clears it')
    p.set_defaults(func=cmd_comment)
    p = sub.add_parser("cancel", help="cancel queued or running jobs")
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=cmd_cancel)
    p = sub.add_parser("delete", help="delete finished runs")
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=cmd_delete)
