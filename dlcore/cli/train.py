"""``dlcore train`` and ``sweep``: start training runs (step 4), one or one per combination
of settings, and follow them to the end (or ``--detach``)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from dlcore.attendees import clean_label
from dlcore.cli.common import owner_arguments, owner_id
from dlcore.recipes import DEFAULT_RECIPE, RECIPES
from dlcore.spec import LR_SCHEDULES, PRESETS, SCRATCH_PRESETS
from dlcore.text import plain


def train_experiment(args):
    """The Experiment that ``dlcore train``'s arguments describe."""
    from dataclasses import replace

    from dlcore.data.catalogue import train_size
    from dlcore.recipes import preset_experiment
    from dlcore.spec import Experiment

    if args.spec:
        experiment = Experiment.from_json(Path(args.spec).read_bytes().decode(errors="replace"))
    else:
        overrides = {
            key: value
            for key, value in {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "optimizer": args.optimizer,
                "learning_rate": args.learning_rate,
                "seed": args.seed,
                "lr_schedule": args.lr_schedule,
                "warmup_epochs": args.warmup_epochs,
                "decay_every_epochs": args.decay_every_epochs,
                "decay_factor": args.decay_factor,
            }.items()
            if value is not None
        }
        model = args.model or "lenet"
        experiment = preset_experiment(
            model, args.dataset, args.recipe, train_size(args.dataset), **overrides
        )
        if args.from_run and not args.model:  # its network by default: every layer fits
            from dlcore.train.runs import read_spec

            experiment = replace(experiment, model=read_spec(args.from_run).model)
    if args.from_run is not None or args.freeze_epochs is not None:
        transfer = {"from_run": args.from_run, "freeze_epochs": args.freeze_epochs}
        changes = {key: value for key, value in transfer.items() if value is not None}
        experiment = replace(experiment, training=replace(experiment.training, **changes))
    if args.owner:
        experiment = replace(experiment, owner=owner_id(args.owner))
    return experiment


def cmd_train(args) -> int:
    from dlcore.recipes import describe_training
    from dlcore.train import jobs

    experiment = train_experiment(args)
    started = time.monotonic()
    run_id = jobs.submit(experiment, instructor=True, owner_label=clean_label(args.label))
    if args.detach:  # for scripts: the id alone, on stdout; `dlcore wait` follows it
        print(json.dumps({"run_id": run_id}) if args.json else run_id)
        return 0
    print(f"run {run_id} submitted: {describe_training(experiment.training)}", file=sys.stderr)
    shown = {"epoch": 0}

    def on_update(status: dict) -> None:
        metrics = jobs.read_metrics(run_id)
        epochs = metrics[metrics["kind"] == "epoch"] if len(metrics) else metrics
        for _, row in epochs[epochs["epoch"] > shown["epoch"]].iterrows():
            shown["epoch"] = int(row["epoch"])
            print(
                f"epoch {shown['epoch']}/{experiment.training.epochs}  loss {row['loss']:.4f}  "
                f"acc {row['accuracy']:.4f}  val_loss {row.get('val_loss', float('nan')):.4f}  "
                f"val_acc {row.get('val_accuracy', float('nan')):.4f}  "
                f"{row.get('images_per_second', 0):.0f} img/s",
                file=sys.stderr,
            )

    try:
        final = jobs.wait(run_id, on_update=on_update)
    except KeyboardInterrupt:
        jobs.cancel(run_id)
        print(f"\ncancelling {run_id}; its best weights are kept", file=sys.stderr)
        final = jobs.wait(run_id, timeout=30)
    seconds = round(time.monotonic() - started, 1)
    summary = {
        "run_id": run_id,
        "status": final.get("status"),
        "dataset": experiment.data.dataset,
        "model": experiment.model.preset,
        "epochs": experiment.training.epochs,
        "val_accuracy": final.get("val_accuracy"),  # of the kept epoch's weights
        "kept_epoch": final.get("best_epoch"),  # the highest validation accuracy
        "test_accuracy": final.get("test_accuracy"),
        "seconds": seconds,
        "device": final.get("device"),
        "executor": final.get("executor"),  # "local" or "ray"
        "node": final.get("node"),
        "message": final.get("message"),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{run_id}: {final.get('status')} - {final.get('message')}")
        if final.get("val_accuracy") is not None:
            test = final.get("test_accuracy")
            kept = final.get("best_epoch")
            print(
                f"val_accuracy {final['val_accuracy']:.4f}"
                + (f"  test_accuracy {test:.4f}" if test is not None else "")
                + f"  {seconds} s on {final.get('device')}; "
                + (
                    f"the saved weights are epoch {kept}'s, the one with the highest "
                    "validation accuracy"
                    if kept
                    else "the saved weights are the last epoch's"
                )
            )
    return 0 if final.get("status") == "completed" else 1


def cmd_sweep(args) -> int:
    """One run per combination; one line per run as it finishes, then the best (and the grid)."""
    from dataclasses import replace

    from dlcore.data.catalogue import train_size
    from dlcore.recipes import preset_experiment
    from dlcore.results import sweep_results
    from dlcore.spec import Experiment
    from dlcore.train import jobs, sweep_jobs
    from dlcore.train import sweep as sweeps

    given = {"learning_rate": args.learning_rate, "batch_size": args.batch_size}
    given |= {"epochs": args.epochs, "dropout": args.dropout}
    for item in args.filters or []:  # "16,32" for block 1, "2:16,32" for block 2
        block, _, values = item.rpartition(":")
        given[f"filters_block_{block.strip() or 1}"] = values
    sweep, fixed = sweeps.from_options({k: v for k, v in given.items() if v is not None})
    if args.spec:
        experiment = Experiment.from_json(Path(args.spec).read_bytes().decode(errors="replace"))
    else:
        overrides = {"optimizer": args.optimizer, "seed": args.seed}
        overrides = {key: value for key, value in overrides.items() if value is not None}
        experiment = preset_experiment(
            args.model, args.dataset, num_train=train_size(args.dataset), **overrides
        )
    experiment = replace(sweeps.apply(experiment, fixed), owner=owner_id(args.owner))
    label = clean_label(args.label)
    sweep_id, run_ids = sweep_jobs.submit_sweep(
        experiment, sweep, instructor=True, owner_label=label
    )
    if args.detach:
        # the run ids, one a line: `dlcore wait $(dlcore sweep ... --detach)` follows them
        print(
            json.dumps({"sweep": sweep_id, "run_ids": run_ids}) if args.json else "\n".join(run_ids)
        )
        return 0
    print(f"sweep {sweep_id}: {len(run_ids)} runs submitted", file=sys.stderr)

    def on_finish(status: dict) -> None:
        if args.json:
            print(json.dumps(sweep_results.run_record(status)), flush=True)
            return
        accuracy = status.get("val_accuracy")
        score = f"val_accuracy {accuracy:.4f}" if accuracy is not None else status.get("message")
        values = sweeps.combination_label(status.get("sweep_values") or {})
        print(plain(f"{status['run_id']}  {values}  {status['status']}  {score}"), flush=True)

    try:
        finals = sweep_jobs.wait_sweep(run_ids, on_finish)
    except KeyboardInterrupt:
        for run_id in run_ids:
            jobs.cancel(run_id)
        print(f"\ncancelling sweep {sweep_id}; finished runs are kept", file=sys.stderr)
        return 130
    best = sweep_results.best_run(finals)
    if args.json:
        print(json.dumps({"best": sweep_results.run_record(best) if best else None}))
    else:
        grid = sweep_results.sweep_table(finals).map(lambda v: "" if v != v else f"{v:.1%}")
        shown = lambda v: sweeps.format_value(v) if isinstance(v, int | float) else v  # noqa: E731
        grid = grid.rename(index=shown, columns=shown)
        print(f"\nvalidation accuracy:\n{grid.to_string()}")
        if best:
            values = sweeps.combination_label(best.get("sweep_values") or {})
            print(f"best: {best['run_id']}  {values}  val_accuracy {best['val_accuracy']:.4f}")
    return 0 if all(final.get("status") == "completed" for final in finals) else 1


def add_parsers(sub) -> None:
    """The subcommands ``train``, ``sweep``."""
    p = sub.add_parser("train", help="train a preset network and wait for it (or --detach)")
    p.add_argument("--dataset", default="mnist-sample")
    models = [name for name in PRESETS if name != "custom"]
    p.add_argument("--model", choices=models, help="a preset network (default: lenet, or the "
                   "network of --from-run)")  # fmt: skip
    p.add_argument("--spec", help="a JSON Experiment file instead of --model")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer")
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--recipe", choices=RECIPES, default=DEFAULT_RECIPE, help="the preset's "
                   "training settings: fast (default) or as in its lesson")  # fmt: skip
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, help="how the learning rate changes")
    p.add_argument("--warmup-epochs", type=float, metavar="N", help="cosine: epochs of warm-up")
    p.add_argument("--decay-every-epochs", type=float, metavar="N", help="step, exponential: "
                   "multiply the rate by --decay-factor every N epochs")  # fmt: skip
    p.add_argument("--decay-factor", type=float, metavar="F", help="step, exponential: 0.001-1")
    p.add_argument("--from-run", metavar="RUN", help="start from this run's conv layers (or "
                   "backbone); the dense head is new")  # fmt: skip
    p.add_argument("--freeze-epochs", type=int, metavar="N",
                   help="keep the reused layers frozen for the first N epochs")  # fmt: skip
    owner_arguments(p)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--detach", action="store_true", help="print the run id at once; `dlcore wait` follows"
    )
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("sweep", help="one run per combination of 2-4 values of 1-2 settings")
    p.add_argument("--dataset", default="mnist-sample")
    p.add_argument("--model", default="lenet", choices=SCRATCH_PRESETS)
    p.add_argument("--spec", help="a JSON Experiment file instead of --model")
    sweep_help = "one value sets it for every run; values separated by commas are swept"
    p.add_argument("--learning-rate", metavar="VALUES", help=f"e.g. 0.001,0.01: {sweep_help}")
    p.add_argument("--batch-size", metavar="VALUES", help="e.g. 32,128")
    p.add_argument("--epochs", metavar="VALUES", help="e.g. 5, or 2,5,10")
    p.add_argument("--dropout", metavar="VALUES", help="of every dense layer, e.g. 0,0.5")
    p.add_argument("--filters", metavar="[BLOCK:]VALUES", action="append",
                   help="of conv block BLOCK (default 1), e.g. 16,32 or 2:32,64")  # fmt: skip
    p.add_argument("--optimizer")
    p.add_argument("--seed", type=int)
    owner_arguments(p)
    p.add_argument("--json", action="store_true", help="one JSON line per run, then the best")
    p.add_argument("--detach", action="store_true", help="print the run ids at once")
    p.set_defaults(func=cmd_sweep)
