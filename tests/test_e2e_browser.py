"""The whole workshop path in a real browser, offline: Debian's Chromium driven by Playwright
against ``streamlit run app.py``. Saves a screenshot of every page under artifacts/e2e/."""

from __future__ import annotations

import re

import numpy as np
import pytest
from browser_support import (
    artifact_dir,
    chromium,
    require_browser,
    streamlit_server,
    wait_for_app,
)
from PIL import Image

from dlcore.train import jobs
from dlcore.train.runs import read_spec
from pages import navigation

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]


def open_step(page, name: str) -> None:
    """Open ``pages/<name>.py`` through its link in the sidebar's navigation."""
    title = next(info.title for info in navigation.ALL if info.path == f"pages/{name}.py")
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    wait_for_app(page)


def shot(page, folder, name: str) -> None:
    """Screenshot the whole page at a laptop's width (Streamlit scrolls inside its main block,
    so the window is made as tall as the content for the picture)."""
    wait_for_app(page)
    height = page.evaluate(
        "() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 900"
    )
    page.set_viewport_size({"width": 1366, "height": min(max(900, height), 6000)})
    page.wait_for_timeout(400)
    page.screenshot(path=str(folder / f"{name}.png"))
    page.set_viewport_size({"width": 1366, "height": 900})


def choose(page, label: str, option: str) -> None:
    """Pick an option of a Streamlit selectbox."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_for_app(page)


def test_workshop_path(tmp_path, monkeypatch):
    require_browser()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    folder = artifact_dir("e2e")
    with streamlit_server(home) as (url, _server), chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(url)
        wait_for_app(page)
        name = page.get_by_label("Your name", exact=True).and_(page.get_by_role("textbox"))
        name.fill("Ada")
        name.press("Enter")
        page.get_by_test_id("stSidebar").get_by_text("Ada").wait_for()
        shot(page, folder, "1-start")

        open_step(page, "data")
        choose(page, "Dataset", "MNIST sample")
        page.get_by_role("button", name="Use this dataset").click()
        page.get_by_test_id("stSidebar").get_by_text("mnist-sample").wait_for()
        shot(page, folder, "2-data")

        open_step(page, "explore")
        page.get_by_test_id("stImage").first.wait_for()
        shot(page, folder, "3-explore")

        open_step(page, "model")
        page.get_by_text("431,080").first.wait_for()  # LeNet on 28x28x1: its parameter count
        shot(page, folder, "4-model")

        open_step(page, "train")
        epochs = page.get_by_role("slider", name="Epochs")
        epochs.focus()
        epochs.press("Home")  # one epoch
        wait_for_app(page)
        # the server has the new value once the page says the settings left the recipe (the
        # slider sends a keyboard change a moment after the key press)
        page.get_by_text("Your settings below differ from both recipes.").wait_for()
        jobs.pause_queue()  # the job waits until the test lets it go: the page must follow it
        page.get_by_role("button", name="Start training").click()
        run_id = re.search(r"run=([\w-]+)", _wait_url(page)).group(1)
        page.get_by_text("the instructor has paused the queue").wait_for()
        assert jobs.status(run_id)["status"] == "queued"
        assert read_spec(run_id).training.epochs == 1  # the keyboard's setting, not lost
        jobs.resume_queue()
        # with no click and no reload, the page follows the job: its live curve, then its end
        page.locator("[data-testid=stVegaLiteChart]:visible").first.wait_for(timeout=120_000)
        shot(page, folder, "5-train-live")
        page.get_by_text("completed").first.wait_for(timeout=240_000)
        shot(page, folder, "5-train-done")

        # a reload reattaches through the URL
        page.reload()
        wait_for_app(page)
        page.get_by_text(f"Run {run_id}").wait_for()
        page.get_by_test_id("stSidebar").get_by_text("Ada").wait_for()  # still who you are

        open_step(page, "evaluate")
        page.get_by_text("Confusion matrix", exact=False).first.wait_for()
        page.locator("[data-testid=stVegaLiteChart]:visible").first.wait_for()
        page.get_by_text(re.compile("Mistakes|misclassified", re.I)).first.wait_for()
        shot(page, folder, "6-evaluate")
        page.get_by_text("Where did it look? (Grad-CAM)").click()
        # the overlays' captions have no confidence: "true 4 · predicted 9"
        overlay = page.get_by_text(re.compile(r"^true \d+ · predicted \d+$"))
        how_many = page.get_by_test_id("stSlider").filter(has_text="How many")
        shown = int(how_many.get_by_test_id("stSliderThumbValue").inner_text())
        overlay.nth(min(shown, 12) - 1).wait_for(timeout=60_000)  # one per mistake (12 at most)
        page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
        shot(page, folder, "6a-evaluate-heat")

        open_step(page, "inside")
        page.get_by_text("Where the network looked", exact=False).first.wait_for(timeout=120_000)
        page.get_by_text("conv1_1 · 24 x 24 x 20").first.wait_for()  # the layer table's
        shot(page, folder, "6b-inside-image")
        page.get_by_role("tab", name="Filters").click()
        page.get_by_text("Filters over time").first.wait_for()
        shot(page, folder, "6c-inside-filters")
        page.get_by_role("tab", name="The code behind this run").click()
        page.get_by_role("button", name="Write the script").click()
        page.get_by_role("button", name=re.compile(rf"train_{run_id}\.py · ")).wait_for()
        shot(page, folder, "6d-inside-code")

        from dlcore.data.catalogue import load_dataset

        dataset = load_dataset("mnist-sample")
        five = int(np.flatnonzero(dataset.y_test == 5)[0])
        digit = tmp_path / "five.png"
        Image.fromarray(dataset.x_test[five][..., 0]).save(digit)
        photo = tmp_path / "five-on-paper.jpg"
        digit_photo_of(dataset.x_test[five][..., 0]).save(photo, quality=90)
        open_step(page, "classify")
        page.locator("input[type=file]").first.set_input_files([str(digit), str(photo)])
        page.get_by_text("As the network sees it").nth(1).wait_for(timeout=120_000)
        page.get_by_test_id("stVegaLiteChart").nth(1).wait_for()  # the top-k probabilities
        verdicts = page.get_by_text(re.compile(r"^\d · \d+\.\d%")).all_inner_texts()
        page.get_by_text("Show where the network looked").click()
        page.get_by_text("Where it looked").nth(1).wait_for(timeout=60_000)
        shot(page, folder, "7-classify")
        assert [v[:3] for v in verdicts] == ["5 ·", "5 ·"], verdicts

        open_step(page, "experiments")
        page.get_by_test_id("stDataFrame").first.wait_for()
        shot(page, folder, "8-experiments")


def digit_photo_of(digit: np.ndarray) -> Image.Image:
    """A phone-photo look: the digit dark on light, noisy paper, larger and off-centre."""
    rng = np.random.default_rng(5)
    paper = rng.normal(205, 12, size=(300, 400)).clip(0, 255)
    ink = np.asarray(Image.fromarray(digit).resize((150, 150), Image.BILINEAR), dtype=float)
    paper[60:210, 90:240] -= ink * 0.7
    return Image.fromarray(paper.clip(0, 255).astype(np.uint8)).convert("RGB")


def _wait_url(page) -> str:
    page.wait_for_url(re.compile(r"run="), timeout=30_000)
    return page.url
