"""Who is who: attendee keys and ids, display labels, and the instructor code's rate limit."""

from __future__ import annotations

import json
import threading

import pytest

from dlcore import LayerLabError, attendees
from dlcore.attendees import (
    InstructorLocked,
    attendee_id,
    clean_label,
    code_matches,
    code_problem,
    new_key,
    try_instructor_code,
    valid_key,
)
from dlcore.storage import data_home

CODE = "owl-lantern-paper-42"
NOW = 1_000_000.0


def test_keys_are_long_random_and_distinct():
    keys = {new_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(valid_key(key) and len(key) >= 32 for key in keys)  # 192 random bits


@pytest.mark.parametrize(
    "text", ["", "ada", "a" * 31, "a" * 200, "x" * 31 + "!", None, 12345, "ab cd" * 10]
)
def test_anything_else_is_not_a_key(text):
    assert not valid_key(text)
    with pytest.raises(LayerLabError, match="not valid"):
        attendee_id(text)


def test_the_id_is_stable_one_way_and_differs_between_keys():
    key = new_key()
    assert attendee_id(key) == attendee_id(key)
    assert attendee_id(key) != attendee_id(new_key())
    assert attendees.is_attendee_id(attendee_id(key))
    assert key not in attendee_id(key) and len(attendee_id(key)) == 22


def test_two_people_typing_the_same_name_are_two_attendees():
    assert attendee_id(new_key()) != attendee_id(new_key())
    assert clean_label("alice") == clean_label("  alice ")  # the name is only a label


def test_labels_are_plain_collapsed_and_short():
    assert clean_label("  Ada \n\t Lovelace ") == "Ada Lovelace"
    assert clean_label("\u202egpj.exe") == "gpj.exe"  # bidi override removed
    assert clean_label("a\x00b\x1b[31mc") == "ab[31mc"
    assert clean_label("y" * 100) == "y" * 64
    assert clean_label(None) == ""


def test_the_label_shown_for_an_owner_is_never_the_owner_id():
    owner = attendee_id(new_key())
    assert attendees.owner_label({"owner": owner, "owner_label": "Ada"}) == "Ada"
    assert attendees.owner_label({"owner": owner}) == "anonymous"
    assert attendees.owner_label({"owner": owner, "owner_label": ""}) == "anonymous"
    assert attendees.owner_label({"owner": "ada"}) == "ada"  # a run from before ids
    assert attendees.owner_label({"owner": ""}) == "instructor"  # made by the instructor or CLI
    assert attendees.owner_label({"owner": owner, "owner_label": " \u202e "}) == "anonymous"


def test_a_label_is_saved_per_attendee_and_survives_a_damaged_file():
    ada, bob = attendee_id(new_key()), attendee_id(new_key())
    assert attendees.save_label(ada, " Ada\u202e ") == "Ada"
    assert attendees.read_label(ada) == "Ada" and attendees.read_label(bob) == ""
    (data_home() / "attendees" / f"{ada}.json").write_text("[1, 2")
    assert attendees.read_label(ada) == ""
    assert attendees.read_label("../../etc/passwd") == ""
    saved = " ".join(p.read_text() for p in (data_home() / "attendees").iterdir())
    assert "key" not in saved  # the secret key is never written


def test_who_may_change_and_see():
    ada, bob = attendee_id(new_key()), attendee_id(new_key())
    assert attendees.may_change(ada, ada) and not attendees.may_change(ada, bob)
    assert not attendees.may_change("", bob), "the instructor's runs are not anyone's"
    assert not attendees.may_change("", ""), "no id is nobody's id"
    assert attendees.may_change(ada, bob, instructor=True)
    assert attendees.may_see("", bob) and attendees.may_see(ada, ada)
    assert not attendees.may_see(ada, bob) and not attendees.may_see(ada, "ada")


@pytest.mark.parametrize(
    "code",
    ["", "   ", "change-me", "CHANGE_ME", "changeme", "change-me-please", "password", "1234",
     "12345678", "instructor", "secret", "letmein", "short"],
)  # fmt: skip
def test_a_placeholder_empty_or_short_code_never_unlocks(code):
    assert code_problem(code).startswith("instructor mode is off")
    assert not code_matches(code, code)
    with pytest.raises(LayerLabError, match="nstructor mode is off"):
        try_instructor_code(code, code, attendee_id(new_key()), now=NOW)


def test_the_placeholder_message_says_where_to_set_a_real_code():
    assert "placeholder; set a real one in .streamlit/secrets.toml" in code_problem("change-me")


def test_the_right_code_unlocks_and_a_wrong_one_says_so():
    who = attendee_id(new_key())
    assert code_problem(CODE) == "" and code_matches(CODE, CODE)
    try_instructor_code(CODE, CODE, who, now=NOW)
    with pytest.raises(LayerLabError, match="not the instructor code .4 more tries"):
        try_instructor_code("owl-lantern-paper-43", CODE, who, now=NOW)


def test_five_wrong_codes_lock_an_attendee_out_and_the_pause_doubles():
    who = attendee_id(new_key())
    for _ in range(4):
        with pytest.raises(LayerLabError, match="not the instructor code"):
            try_instructor_code("guess", CODE, who, now=NOW)
    with pytest.raises(InstructorLocked, match="wait 30 s"):
        try_instructor_code("guess", CODE, who, now=NOW)
    with pytest.raises(InstructorLocked, match="Too many wrong instructor codes: wait 20 s"):
        try_instructor_code(CODE, CODE, who, now=NOW + 10)  # even the right code waits
    for _ in range(4):
        with pytest.raises(LayerLabError, match="not the instructor code"):
            try_instructor_code("guess", CODE, who, now=NOW + 31)
    with pytest.raises(InstructorLocked, match="wait 60 s"):
        try_instructor_code("guess", CODE, who, now=NOW + 31)
    try_instructor_code(CODE, CODE, who, now=NOW + 92)


def test_new_browser_sessions_cannot_reset_the_count():
    """41 guesses, each from a fresh browser (a new key): the server-wide count pauses the
    server, and while it is paused each new browser is locked out after one wrong guess."""
    checked, locked = 0, 0
    for _ in range(41):
        try:
            try_instructor_code("guess", CODE, attendee_id(new_key()), now=NOW)
        except InstructorLocked:
            locked += 1
        except LayerLabError:
            checked += 1
    assert checked == attendees.MAX_WRONG_ON_SERVER - 1  # the 10th guess starts the pause
    assert locked == 41 - checked
    guesser = attendee_id(new_key())
    with pytest.raises(InstructorLocked, match=r"wait 30 s"):
        try_instructor_code("guess", CODE, guesser, now=NOW + 1)
    with pytest.raises(InstructorLocked, match=r"wait \d+ s"):
        try_instructor_code(CODE, CODE, guesser, now=NOW + 2)  # that browser guessed wrong


def test_nobody_can_lock_the_instructor_out():
    """Regression: ten wrong codes from anyone paused the whole server, and the right code
    was refused too."""
    for _ in range(3 * attendees.MAX_WRONG_ON_SERVER):
        with pytest.raises(LayerLabError, match="not the instructor code"):
            try_instructor_code("guess", CODE, attendee_id(new_key()), now=NOW)
    try_instructor_code(CODE, CODE, attendee_id(new_key()), now=NOW + 1)


def test_guesses_from_many_threads_are_all_counted():
    def guess() -> None:
        try:
            try_instructor_code("guess", CODE, "a-" + "0" * 20, now=NOW)
        except LayerLabError:
            pass

    threads = [threading.Thread(target=guess) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    book = json.loads((data_home() / "attendees" / "instructor-guesses.json").read_text())
    assert book["server"]["wrong"] == 4 and book[f"id:{'a-' + '0' * 20}"]["wrong"] == 4


def test_a_damaged_guess_file_is_started_afresh_not_trusted():
    path = data_home() / "attendees" / "instructor-guesses.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    for damage in ("{not json", "[1, 2]", '{"server": {"locked_until": "soon", "last": "x"}}'):
        path.write_text(damage)
        with pytest.raises(LayerLabError, match="not the instructor code"):
            try_instructor_code("guess", CODE, attendee_id(new_key()), now=NOW)


def test_the_cli_acts_for_an_owner_given_by_id_and_a_name_is_no_identity(tmp_path, capsys):
    import numpy as np

    from dlcore.cli import main
    from dlcore.data.dataset import read_manifest

    path = tmp_path / "arrays.npz"
    np.savez(path, x_train=np.zeros((8, 6, 6, 1), np.uint8), y_train=np.array([0, 1] * 4))
    assert main(["import", str(path), "--name", "arrays", "--owner", "ada"]) == 2
    assert "not an attendee id" in capsys.readouterr().err
    owner = attendee_id(new_key())
    assert main(["import", str(path), "--name", "arrays", "--owner", owner, "--label", "Ada"]) == 0
    manifest = read_manifest("arrays")
    assert manifest["owner"] == owner and manifest["owner_label"] == "Ada"
