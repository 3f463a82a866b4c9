"""Which runs use a dataset, and what that allows: the train layer's answers about datasets.

The data modules never read runs; this module does, for the pages and the CLI: a dataset name
any run trained on cannot be imported again (deleted or not), a dataset cannot be deleted while
a queued or running job uses it, and a run stays as visible as its dataset was when submitted.
"""

from __future__ import annotations

from dlcore import LayerLabError, attendees
from dlcore.data.builtin import BUILTINS
from dlcore.data.dataset import DatasetNotFound, delete_prepared, read_manifest
from dlcore.data.ownership import may_change_dataset, one_writer
from dlcore.storage import check_name
from dlcore.train import runs


def runs_using(name: str) -> list[str]:
    """Ids of the runs whose experiment trained (or will train) on the dataset ``name``."""
    used = []
    for run_id in runs.list_run_ids():
        try:
            if runs.read_spec(run_id).data.dataset == name:
                used.append(run_id)
        except (LayerLabError, ValueError, TypeError, KeyError, OSError):
            continue  # a damaged or vanished run: its own page says so
    return used


def _active(run_id: str) -> bool:
    try:
        return runs.read_status(run_id).status in runs.ACTIVE
    except LayerLabError:  # deleted meanwhile
        return False


def delete_dataset(name: str, owner: str = "", instructor: bool = False) -> None:
    """Delete an imported dataset: its owner may (``owner`` is the attendee id), and the
    instructor (the CLI) may delete any. Refused while a queued or running job uses it;
    finished runs keep their classes and model, so they still evaluate and classify, and its
    name stays taken (``runs_using``) so no other images can appear under them."""
    check_name(name, "dataset name")
    with one_writer(name):  # the owner is read under the lock that imports take
        if read_manifest(name) is None:
            raise DatasetNotFound(f"No dataset named {name!r}; `dlcore datasets` lists them.")
        if not may_change_dataset(name, owner, instructor):
            raise LayerLabError(
                f"The dataset {name!r} is not yours to delete; only the attendee who imported "
                "it (or the instructor) can delete it, and built-ins only the instructor."
            )
        busy = [run_id for run_id in runs_using(name) if _active(run_id)]
        if busy:
            raise LayerLabError(
                f"Job(s) {', '.join(busy[:3])} are queued or training on {name!r}; cancel them "
                "or wait for them to finish, then delete the dataset."
            )
        delete_prepared(name)


def run_dataset_shared(status: dict) -> bool:
    """Was the run's dataset open to everyone when the run was submitted? Read from the run
    (``dataset_shared``), never from the dataset now: a later owner of the name changes
    nothing. A run that did not record it counts as shared only on a built-in."""
    recorded = status.get("dataset_shared")
    if isinstance(recorded, bool):
        return recorded
    return str(status.get("dataset", "")) in BUILTINS


def may_see_run(status: dict, viewer: str, instructor: bool = False) -> bool:
    """Runs on shared datasets are public (label, settings, scores, curves, model); a run on
    an attendee's own import only its owner and the instructor see (its classes and model)."""
    owner = str(status.get("owner") or "")
    return attendees.may_change(owner, viewer, instructor) or run_dataset_shared(status)
