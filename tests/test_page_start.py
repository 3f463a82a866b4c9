"""Start page: the steps with links to each page, and the attendee's name kept in the session."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dlcore.attendees import attendee_id

ROOT = Path(__file__).resolve().parents[1]


def _start() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()


def test_start_page_links_every_step():
    at = _start()
    assert not at.exception
    labels = [link.label for link in at.page_link]
    for step in ("Data", "Explore", "Model", "Train", "Evaluate", "Classify", "Experiments"):
        assert any(step in label for label in labels), labels


def test_name_is_stripped_shortened_and_kept():
    at = _start()
    at.text_input(key="_attendee_input").input("   Ada    Lovelace  ").run()
    assert at.session_state["attendee"] == "Ada Lovelace"
    assert "Ada Lovelace" in at.success[0].value
    at.switch_page("pages/data.py").run()
    at.switch_page("pages/start.py").run()
    assert at.session_state["attendee"] == "Ada Lovelace"
    assert at.text_input(key="_attendee_input").value == "Ada Lovelace"


def test_long_name_is_cut_to_64_characters():
    def script():
        from pages.identity import attendee_label, set_attendee

        set_attendee("  " + "y" * 100)
        assert attendee_label() == "y" * 64

    at = AppTest.from_function(script).run()
    assert not at.exception
    assert at.session_state["attendee"] == "y" * 64


def test_the_browser_s_key_not_the_name_becomes_the_experiment_owner():
    at = _start()
    at.text_input(key="_attendee_input").input("Grace").run()
    at.session_state["dataset"] = "mnist-sample"
    at.switch_page("pages/model.py").run()
    assert not at.exception
    owner = at.session_state["experiment"].owner
    assert owner == attendee_id(at.session_state["attendee_key"]) and "Grace" not in owner


def test_instructor_code_is_hidden_unless_configured():
    at = _start()
    assert not at.exception
    assert not [w for w in at.text_input if w.key == "_instructor_input"]


def test_instructor_code_from_secrets_unlocks_instructor_mode():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.secrets["instructor_code"] = "s3cret-heron-7"
    at.run()
    at.text_input(key="_instructor_input").input("wrong").run()
    assert not [c for c in at.caption if "Instructor mode" in c.value]
    assert "not the instructor code" in at.error[0].value
    at.text_input(key="_instructor_input").input("s3cret-heron-7").run()
    assert [c for c in at.caption if "Instructor mode is on" in c.value]
    assert at.text_input(key="_instructor_input").value == "", "the code is not kept in the box"
    at.button(key="_instructor_leave").click().run()  # and off again, for this session
    assert not at.exception and "instructor_key" not in at.session_state
    assert not [c for c in at.caption if "Instructor mode" in c.value]
    assert not [b for b in at.button if b.key == "_instructor_leave"]


def test_without_a_secrets_file_the_environment_gives_the_code(monkeypatch):
    monkeypatch.setenv("LAYERLAB_INSTRUCTOR_CODE", "from-env")
    at = _start()
    at.text_input(key="_instructor_input").input("from-env").run()
    assert not at.exception
    assert [c for c in at.caption if "Instructor mode is on" in c.value]


def test_the_example_secrets_file_names_the_instructor_code():
    import tomllib

    example = tomllib.loads((ROOT / ".streamlit" / "secrets.toml.example").read_text())
    assert example == {"instructor_code": "change-me"}


def test_the_placeholder_code_never_unlocks_and_the_start_page_says_so():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.secrets["instructor_code"] = "change-me"
    at.session_state["instructor_key"] = "change-me"  # even set directly in the session
    at.run()
    assert not at.exception
    assert "the configured code is a placeholder; set a real one in .streamlit/secrets.toml" in (
        at.warning[0].value
    )
    assert not [w for w in at.text_input if w.key == "_instructor_input"]
    assert "Instructor mode" not in " ".join(str(c.value) for c in at.sidebar.caption)
