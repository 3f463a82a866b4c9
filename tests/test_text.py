"""Plain text: what people type or upload shows as it reads, never as markup or reversed."""

from __future__ import annotations

import unicodedata

import pytest

from dlcore.text import BIDI_CONTROLS, plain
from dlcore.text import escape_markdown as md

LINK = "[Instructor login](https:evil.example)"
IMAGE = "![x](https://evil.example/p.png)"


def _unescape(text: str) -> str:
    """What a reader sees of md()'s output: each backslash escape dropped, and the invisible
    word joiners that keep bare addresses from becoming links."""
    out, chars = [], iter(text)
    for char in chars:
        out.append(next(chars, "") if char == "\\" else char)
    return "".join(out).replace("\u2060", "")


@pytest.mark.parametrize("control", sorted(BIDI_CONTROLS))
def test_plain_removes_each_bidi_control(control):
    assert plain(f"ab{control}c") == "abc"


def test_plain_keeps_accents_cjk_and_emoji_and_normalises():
    text = "Zoë 張偉 👩‍👩‍👧 🇫🇷 café"
    assert plain(text) == unicodedata.normalize("NFC", text)
    assert plain("e\u0301") == "\u00e9"  # NFC: one character
    assert "\u200d" in plain("👩‍👩‍👧")  # the joiner that makes one family emoji stays


def test_plain_removes_controls_and_breaks_lines_into_spaces():
    assert plain("gpj.\u202eexe") == "gpj.exe"
    assert plain("a\x00b\x1bc\x7fd\x9be") == "abcde"
    assert plain("one\ntwo\r\nthree\u2028four\tfive") == "one two  three four five"
    assert plain("bad\udcffname") == "bad\ufffdname"  # a lone surrogate cannot be sent
    assert plain(None) == "None" and plain(3) == "3"


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u200c", "\u200d", "\u2060", "\u2063", "\u2064", "\ufeff", "\u206a", "\u206f"]
    + ["\U000e0001", "\U000e0041", "\U000e007f", "\u00ad"],
)
def test_plain_removes_zero_width_and_other_format_characters(invisible):
    assert plain(f"ad{invisible}min") == "admin"
    assert plain(f"{invisible}ada{invisible}") == "ada"


def test_plain_keeps_a_joiner_only_inside_an_emoji_sequence():
    assert plain("👨\u200d💻") == "👨\u200d💻" and plain("👍🏽\u200d👍") == "👍🏽\u200d👍"
    assert plain("a\u200db") == "ab" and plain("👨\u200db") == "👨b" and plain("\u200d👨") == "👨"


def test_plain_is_idempotent():
    nasty = "\u202e[x](y)\n\u2066e\u0301\udc80\u200b👨\u200d\u200d💻"
    assert plain(plain(nasty)) == plain(nasty)


@pytest.mark.parametrize(
    "hostile",
    [
        LINK,
        IMAGE,
        ":red[Instructor]",
        ":material/lock: admin",
        ":smile: :+1:",
        "$x^2$",
        "$$\\int x$$",
        "<b>bold</b><script>alert(1)</script>",
        "[x](javascript:alert(1))",
        "**bold** _it_ ~~gone~~ `code`",
        "# Heading",
        "- item",
        "1. item",
        "> quote",
        "a | b",
        "https://evil.example and www.evil.example",
        "\\[escaped\\]",
        "    indented code",
    ],
)
def test_md_escapes_every_markdown_construct_and_reads_as_the_text(hostile):
    safe = md(hostile)
    assert _unescape(safe) == plain(hostile).strip()
    for char in "[]()!*_`#$:<>|~":  # each markup character is escaped wherever it appears
        assert safe.count(char) == safe.count("\\" + char), char
    assert not safe.startswith(("-", "#", ">", " "))


def test_md_leaves_plain_words_alone_and_removes_bidi():
    assert md("Ada Lovelace") == "Ada Lovelace"
    assert md("20260101-101500-ab12cd") == "20260101-101500-ab12cd"  # a run id reads as is
    assert md("\u202eevil") == "evil"
    assert md("cats & dogs") == "cats \\& dogs"
    assert md("") == ""


def test_md_of_the_issue_s_link_and_image():
    assert md(LINK) == "\\[Instructor login\\]\\(https\\:evil\\.example\\)"
    assert md(IMAGE) == "\\!\\[x\\]\\(https\\:\u2060\\/\\/evil\\.example\\/p\\.png\\)"


def _page_md_script(texts: list) -> None:
    """Run by AppTest as a script: what pages.common.md makes of each text, as markdown."""
    import streamlit as st

    from pages.common import md as page_md

    for text in texts:
        st.markdown(page_md(text))


def test_pages_md_is_the_same_escaping():
    """pages.common.md, which the pages call, escapes as dlcore does. It is called inside a
    script run: importing a page module outside one changes how AppTest runs the app."""
    from streamlit.testing.v1 import AppTest

    texts = [LINK, IMAGE, "cats & dogs", "\u202eevil", "ada@evil.example", "*bold* $x$"]
    at = AppTest.from_function(_page_md_script, args=(texts,)).run()
    assert not at.exception
    assert [element.value for element in at.markdown] == [md(text) for text in texts]


def test_cli_tables_print_names_as_plain_text(capsys):
    from dlcore.cli.common import print_table

    print_table([{"owner": "\u202eada\x1b[31m", "dataset": "cats\ndogs"}], ["owner", "dataset"])
    out = capsys.readouterr().out
    assert "\u202e" not in out and "\x1b" not in out
    assert out.splitlines()[1].split() == ["ada[31m", "cats", "dogs"]


@pytest.mark.parametrize(
    "name",
    [
        "[Instructor login](https://evil.example)",
        "see https://evil.example/login",
        "www.evil.example",
        "ada@evil.example",
        "ftp://files.example",
    ],
)
def test_bare_addresses_are_not_turned_into_links(name):
    """GitHub-flavoured markdown links a bare https://..., www. or name@host even with its
    punctuation escaped; a word joiner breaks each, invisibly."""
    shown = md(name)
    unescaped = shown.replace("\\", "")
    for pattern in ("://", "www.", "a@"):
        assert pattern not in unescaped
    assert _unescape(shown) == name  # the text reads the same
