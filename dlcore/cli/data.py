"""``dlcore datasets``, ``fetch`` and ``import``: the datasets a class trains on (steps 1-2)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dlcore import LayerLabError
from dlcore.attendees import clean_label
from dlcore.cli.common import owner_arguments, owner_id, print_table
from dlcore.data.images import RESIZE_MODES
from dlcore.text import plain


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 32x32") from None
    return width, height


def cmd_datasets(args) -> int:
    from dlcore.data.catalogue import list_datasets
    from dlcore.train.usage import delete_dataset

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
        print_table(rows, ["name", "status", "classes", "shape", "images", "title"])
    return 0


def cmd_fetch(args) -> int:
    from dlcore.data.catalogue import fetch_dataset
    from dlcore.spec import BACKBONES

    for name in args.names:
        if name in BACKBONES:  # ImageNet weights for transfer learning, into the Keras cache
            from dlcore.model.backbones import fetch_backbone

            print(f"{name}: ready ({fetch_backbone(name)})")
            continue
        dataset = fetch_dataset(name)
        print(f"{name}: ready ({sum(len(y) for y in (dataset.y_train, dataset.y_val))} images)")
    return 0


def _progress(done: int, total: int, message: str) -> None:
    end = "\n" if done == total else ""  # a later error message starts on its own line
    print(f"\r{done}/{total} {message[:60]:<60}", end=end, file=sys.stderr, flush=True)


def cmd_import(args) -> int:
    from dlcore.data import importer, npz_import
    from dlcore.data.images import PrepSettings, check_image_side
    from dlcore.data.ownership import check_target
    from dlcore.train.usage import runs_using

    source = Path(args.path)
    if not source.exists():
        raise LayerLabError(f"{source} does not exist; give a folder, a .zip or an .npz file.")
    common = {"val_percent": args.val_percent, "test_percent": args.test_percent}
    common["owner"], common["owner_label"] = owner_id(args.owner), clean_label(args.label)
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


def add_parsers(sub) -> None:
    """The subcommands ``datasets``, ``fetch``, ``import``."""
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
    owner_arguments(p)
    p.set_defaults(func=cmd_import)
