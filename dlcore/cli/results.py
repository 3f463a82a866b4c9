"""``dlcore evaluate``, ``predict``, ``explain`` and ``export``: what a trained run gives
(steps 5-7)."""

from __future__ import annotations

import json
from pathlib import Path

from dlcore import LayerLabError
from dlcore.text import plain


def cmd_evaluate(args) -> int:
    from dlcore.results.evaluate import evaluate_run, report_frame

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
    from dlcore.results.inference import classify_run

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
    from dlcore.results import export

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
    from dlcore.results.explain_files import explain_run

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


def add_parsers(sub) -> None:
    """The subcommands ``evaluate``, ``predict``, ``explain``, ``export``."""
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
