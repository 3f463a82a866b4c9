"""The ``dlcore`` command: the lab's functions for instructors and scripts.

Exit codes: 0 success, 1 a job that failed or was cancelled, 2 bad usage or bad input (with a
one-line message on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

from dlcore import LayerLabError
from dlcore.attendees import clean_label, is_attendee_id
from dlcore.images import RESIZE_MODES
from dlcore.recipes import DEFAULT_RECIPE, RECIPES
from dlcore.spec import LR_SCHEDULES, PRESETS, SCRATCH_PRESETS
from dlcore.text import plain


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 32x32") from None
    return width, height


def _print_table(rows: list[dict], columns: list[str]) -> None:
    """Aligned columns; names people chose are printed as plain text (no bidi controls,
    escape sequences or line breaks that would garble the terminal)."""
    cells = [{c: "" if row.get(c) is None else plain(row[c]) for c in columns} for row in rows]
    widths = {c: max(len(c), *(len(r[c]) for r in cells)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in cells:
        print("  ".join(row[c].ljust(widths[c]) for c in columns))


def cmd_datasets(args) -> int:
    from dlcore.catalogue import list_datasets
    from dlcore.usage import delete_dataset

    if args.delete:
        delete_dataset(args.delete, instructor=True)  # the CLI is the instructor's
        print(f"{args.delete}: deleted")
        return 0

    rows = list_datasets()
    for row in rows:
        row["shape"] = "x".join(str(v) for v in row.get("image_shape") or [])
        row["images"] = row.get("num_images") or ""
        row["classes"] = row.get("num_classes")
    if args.json:
        print(json.dumps(rows, default=str))
    else:
        _print_table(rows, ["name", "status", "classes", "shape", "images", "title"])
    return 0


def cmd_fetch(args) -> int:
    from dlcore.catalogue import fetch_dataset
    from dlcore.spec import BACKBONES

    for name in args.names:
        if name in BACKBONES:  # ImageNet weights for transfer learning, into the Keras cache
            from dlcore.transfer import fetch_backbone

            print(f"{name}: ready ({fetch_backbone(name)})")
            continue
        dataset = fetch_dataset(name)
        print(f"{name}: ready ({sum(len(y) for y in (dataset.y_train, dataset.y_val))} images)")
    return 0


def _progress(done: int, total: int, message: str) -> None:
    end = "\n" if done == total else ""  # a later error message starts on its own line
    print(f"\r{done}/{total} {message[:60]:<60}", end=end, file=sys.stderr, flush=True)


def _owner_arguments(p: argparse.ArgumentParser) -> None:
    """``--owner ID`` and ``--label NAME``: whose import or run it is, and the name shown."""
    help_owner = "attendee id (a-..., as `dlcore jobs` lists it); default: shared"
    p.add_argument("--owner", default="", help=help_owner)
    p.add_argument("--label", default="", help="the owner's name as pages show it")


def _owner(text: str) -> str:
    """An attendee id for ``--owner`` ("" = shared by everyone); a typed name is no identity."""
    if text and not is_attendee_id(text):
        raise LayerLabError(
            f"--owner {text!r} is not an attendee id: give the id (a- and 20 hex digits) that "
            "`dlcore jobs` lists in its owner column, and the name with --label."
        )
    return text


def cmd_import(args) -> int:
    from dlcore import importer, npz_import
    from dlcore.images import PrepSettings, check_image_side
    from dlcore.ownership import check_target
    from dlcore.usage import runs_using

    source = Path(args.path)
    if not source.exists():
        raise LayerLabError(f"{source} does not exist; give a folder, a .zip or an .npz file.")
    common = {"val_percent": args.val_percent, "test_percent": args.test_percent}
    common["owner"], common["owner_label"] = _owner(args.owner), clean_label(args.label)
    common["in_use"] = runs_using  # a name that runs trained on is never imported again
    common["replace"] = args.replace
    # before anything is read: one's own dataset of that name is replaced only with --replace
    check_target(args.name, common["owner"], runs_using, args.replace)
    if args.size:
        check_image_side(*args.size)  # the server's limit, said before any PrepSettings
    if source.suffix.lower() == ".npz":
        settings = None
        if args.size or args.grayscale:
            width, height = args.size or (32, 32)
            mode = "grayscale" if args.grayscale else "color"
            settings = PrepSettings(mode, width, height, args.resize)
        common.pop("test_percent")  # an .npz brings its own test split (x_test, y_test)
        dataset = npz_import.import_npz(source, args.name, settings=settings, **common)
    else:
        width, height = args.size or (32, 32)
        mode = "grayscale" if args.grayscale else "color"
        settings = PrepSettings(mode, width, height, args.resize)
        common |= {"min_per_class": args.min_per_class, "max_per_class": args.max_per_class}
        if source.is_dir():
            val = Path(args.val) if args.val else None
            dataset = importer.import_folder(
                source, args.name, settings, val_path=val, progress=_progress, **common
            )
        else:
            dataset = importer.import_zip(source, args.name, settings, progress=_progress, **common)
    manifest = dataset.manifest
    classes = ", ".join(plain(name) for name in dataset.classes)
    print(f"{dataset.name}: {manifest.get('num_images')} images, classes: {classes}")
    for split, counts in manifest.get("counts", {}).items():
        print(f"  {split}: {sum(counts.values())}")
    for skipped in manifest.get("skipped", []):
        print(f"  skipped {plain(skipped['file'])}: {plain(skipped['reason'])}")
    return 0


def train_experiment(args):
    """The Experiment that ``dlcore train``'s arguments describe."""
    from dataclasses import replace

    from dlcore.catalogue import train_size
    from dlcore.spec import Experiment, preset_experiment

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
            from dlcore.runs import read_spec

            experiment = replace(experiment, model=read_spec(args.from_run).model)
    if args.from_run is not None or args.freeze_epochs is not None:
        transfer = {"from_run": args.from_run, "freeze_epochs": args.freeze_epochs}
        changes = {key: value for key, value in transfer.items() if value is not None}
        experiment = replace(experiment, training=replace(experiment.training, **changes))
    if args.owner:
        experiment = replace(experiment, owner=_owner(args.owner))
    return experiment


def cmd_train(args) -> int:
    from dlcore import jobs
    from dlcore.recipes import describe_training

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

    from dlcore import jobs, sweep_jobs, sweep_results
    from dlcore import sweep as sweeps
    from dlcore.catalogue import train_size
    from dlcore.spec import Experiment, preset_experiment

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
    experiment = replace(sweeps.apply(experiment, fixed), owner=_owner(args.owner))
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


def cmd_wait(args) -> int:
    """Wait for every run (``--timeout`` seconds for all together), print their final records;
    0 when all completed, 1 otherwise (failed, cancelled, or still going at the timeout)."""
    from dlcore import jobs

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
    from dlcore import jobs
    from dlcore.run_comments import read_comment

    rows = jobs.list_runs(owner=args.owner)
    if args.json:
        rows = [row | {"comment": read_comment(row["run_id"])} for row in rows]
        print(json.dumps(rows, default=str))
    elif not rows:
        print("no runs yet: start one with `dlcore train`")
    else:
        columns = ["run_id", "status", "queue_position", "owner_label", "owner", "dataset"]
        _print_table(rows, [*columns, "model", "val_accuracy"])
    return 0


def cmd_comment(args) -> int:
    from dlcore import jobs

    saved = jobs.comment(args.run, args.text)  # the CLI is the instructor's: any owner's run
    print(f"{args.run}: comment {'saved: ' + saved if saved else 'cleared'}")
    return 0


def cmd_cancel(args) -> int:
    from dlcore import jobs

    for run_id in args.runs:
        print(f"{run_id}: {jobs.cancel(run_id).get('status')}")
    return 0


def cmd_delete(args) -> int:
    from dlcore import jobs

    for run_id in args.runs:
        jobs.delete(run_id)
        print(f"{run_id}: deleted")
    return 0


def cmd_evaluate(args) -> int:
    from dlcore.evaluate import evaluate_run, report_frame

    evaluation = evaluate_run(args.run)
    if args.json:
        print(json.dumps(evaluation))
        return 0
    for split in ("val", "test"):
        if split in evaluation:
            figures = evaluation[split]
            print(
                f"{split}: accuracy {figures['accuracy']:.4f}  loss {figures['loss']:.4f}  "
                f"({figures['num_images']} images)"
            )
    print(report_frame(evaluation).round(3).to_string())
    return 0


def cmd_predict(args) -> int:
    from dlcore.inference import classify_run

    predictions = classify_run(args.run, list(args.images), top_k=args.top, digit_mode=args.digit)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "image": p.source,
                        "label": p.label,
                        "probability": p.probability,
                        "top": p.top,
                    }
                    for p in predictions
                ]
            )
        )
    else:
        for p in predictions:
            top = ", ".join(f"{label} {prob:.1%}" for label, prob in p.top)
            print(f"{p.source}: {p.label} ({p.probability:.1%})  top: {top}")
    return 0


def cmd_export(args) -> int:
    from dlcore import export

    if args.int8 and not args.tflite:
        raise LayerLabError("--int8 quantises the TensorFlow Lite file: give --tflite FILE too.")
    if not (args.script or args.tflite or args.summary):
        raise LayerLabError("Nothing to export: give --script FILE, --tflite FILE or --summary.")
    if args.summary:
        print(export.model_summary(args.run), end="")
    written = {}
    if args.script:
        script = Path(args.script)
        written |= export.export_script(args.run, script.parent, script_file=script.name)
    if args.tflite:
        result = export.export_tflite(args.run, Path(args.tflite), int8=args.int8)
        written["tflite"] = result["path"]
    files = {key: {"path": str(p), "size_bytes": p.stat().st_size} for key, p in written.items()}
    if args.json:
        print(json.dumps(files))
    else:
        for key, file in files.items():
            print(f"{key}: {file['path']} ({file['size_bytes']:,} bytes)")
    return 0


def cmd_explain(args) -> int:
    from dlcore.explain_files import explain_run

    found = explain_run(args.run, args.image, Path(args.out), digit_mode=args.digit)
    if args.json:
        print(json.dumps(found))
        return 0
    row, column = found["heat_peak"]
    print(plain(f"{args.image}: {found['label']} ({found['probability']:.1%})"))
    print(f"{found['heat_method']} peak at row {row}, column {column}")
    for name in found["files"]:
        print(f"  wrote {plain(name)}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (what is wrong, where to read more)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dlcore", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("datasets", help="list datasets, their size and availability")
    p.add_argument("--json", action="store_true")
    p.add_argument("--delete", metavar="NAME", help="delete an imported dataset (refused while "
                   "a queued or running job uses it)")  # fmt: skip
    p.set_defaults(func=cmd_datasets)
    p = sub.add_parser("fetch", help="download built-in datasets, or a backbone's ImageNet "
                       "weights (mobilenet, efficientnet), before a class")  # fmt: skip
    p.add_argument("names", nargs="+")
    p.set_defaults(func=cmd_fetch)
    p = sub.add_parser("import", help="import a folder of class folders, a .zip or an .npz")
    p.add_argument("path")
    p.add_argument("--name", required=True)
    p.add_argument("--val", help="separate validation folder")
    p.add_argument("--grayscale", action="store_true")
    p.add_argument("--size", type=_size, help="WIDTHxHEIGHT, e.g. 32x32")
    p.add_argument("--resize", choices=RESIZE_MODES, default="squash")
    p.add_argument("--val-percent", type=float, default=20.0)
    p.add_argument("--test-percent", type=float, default=0.0)
    p.add_argument("--min-per-class", type=int, default=2)
    p.add_argument("--max-per-class", type=int, default=0)
    p.add_argument("--replace", action="store_true", help="replace a dataset of that name")
    _owner_arguments(p)
    p.set_defaults(func=cmd_import)
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
    _owner_arguments(p)
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
    _owner_arguments(p)
    p.add_argument("--json", action="store_true", help="one JSON line per run, then the best")
    p.add_argument("--detach", action="store_true", help="print the run ids at once")
    p.set_defaults(func=cmd_sweep)
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
    p = sub.add_parser("evaluate", help="accuracy, confusion matrix and report of a run")
    p.add_argument("run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("predict", help="classify image files with a run's model")
    p.add_argument("run")
    p.add_argument("images", nargs="+")
    p.add_argument("--top", type=int, default=3)
    p.add_argument("--digit", action="store_true", help="digit-photo mode (MNIST-like runs)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser(
        "explain", help="filters, feature maps and heat map of one image, as PNG files"
    )
    p.add_argument("run")
    p.add_argument("image")
    p.add_argument("--out", required=True, help="folder for the PNG files (made if missing)")
    p.add_argument("--digit", action="store_true", help="digit-photo mode (MNIST-like runs)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)
    p = sub.add_parser("export", help="a run's training script, TensorFlow Lite model, summary")
    p.add_argument("run")
    p.add_argument("--script", metavar="FILE", help="write the training script (its images go "
                   "beside it as RUN_data.npz)")  # fmt: skip
    p.add_argument("--tflite", metavar="FILE", help="write the model as TensorFlow Lite (.tflite)")
    p.add_argument("--int8", action="store_true", help="quantise the TensorFlow Lite model to int8")
    p.add_argument("--summary", action="store_true", help="print the model summary")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    # TensorFlow's C++ log lines are noise in a terminal; commands import it only once they
    # load or train a model, so a command that fails earlier prints its message alone.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LayerLabError as error:
        print(f"dlcore: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        where = f": {error.filename}" if getattr(error, "filename", None) else ""
        print(f"dlcore: {error.strerror or error}{where}; check the path.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
