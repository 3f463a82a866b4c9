"""One pattern for every page's name: a word, the same in the sidebar's navigation, on the Start
page's list of steps and as the page's own heading."""

from __future__ import annotations

import re

import pytest
from pages_support import OWNER, open_page

from pages.navigation import ALL, START, STEPS


@pytest.mark.parametrize("info", ALL, ids=lambda info: info.title)
def test_each_page_s_heading_is_its_navigation_title(info):
    page = info.path.removeprefix("pages/").removesuffix(".py")
    at = open_page(page, instructor=True, attendee=OWNER, dataset="digits")
    assert not at.exception
    assert [title.value for title in at.title][:1] == [info.title]


def test_the_titles_follow_one_pattern():
    titles = [info.title for info in ALL]
    assert all(re.fullmatch(r"[A-Z][a-z]+", title) for title in titles), titles
    assert len(set(titles)) == len(titles)
    assert START not in STEPS and [s.path for s in STEPS][:2] == [
        "pages/data.py",
        "pages/explore.py",
    ]


def test_the_start_page_lists_every_step_by_its_title_in_order():
    at = open_page("start")
    assert not at.exception
    assert [link.label for link in at.page_link] == [step.title for step in STEPS]
    steps = [m.value for m in at.markdown if m.value.startswith("**Step ")]
    assert steps == [f"**Step {n}.** {step.blurb}" for n, step in enumerate(STEPS, start=1)]
