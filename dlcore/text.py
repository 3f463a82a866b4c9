"""Plain text for anything a person typed or uploaded: names, class folders, file names, run ids.

``plain`` keeps every letter, accent, CJK character and emoji, and takes out what can make a
string lie about itself on someone else's screen: bidi controls (U+202E turns ``gpj.exe`` into
``exe.jpg``), other control and invisible format characters, line breaks, and lone surrogates
that a file name with invalid UTF-8 leaves behind (they cannot even be sent to a browser). The
CLI prints ``plain`` text as is; pages put it into markdown through ``escape_markdown``
(``pages.common.md``).
"""

from __future__ import annotations

import re
import string
import unicodedata

# Embeddings, overrides and isolates; the left-to-right, right-to-left and Arabic letter marks.
BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200e", "\u200f", "\u061c"]
)
# Whitespace that would start a new line or paragraph; becomes one space.
_BREAKS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029")
ZWJ = "\u200d"  # joins emoji into one (a family, a profession): kept between two of them
_EMOJI_TAIL = frozenset("\ufe0f") | {chr(c) for c in range(0x1F3FB, 0x1F400)}  # VS16, skin


def _keep(char: str) -> str:
    if char in _BREAKS:
        return " "
    if char in BIDI_CONTROLS:
        return ""
    category = unicodedata.category(char)
    # C0 and C1 controls (NUL, ESC, DEL...); format characters, invisible but able to hide
    # or split a name: zero-width spaces and joiners, word joiner, BOM, the tag block
    if category in ("Cc", "Cf"):
        return ""
    if category == "Cs":  # a lone surrogate (surrogateescape of a non-UTF-8 byte)
        return "\ufffd"
    return char


def _emoji(char: str) -> bool:
    return char in _EMOJI_TAIL or unicodedata.category(char) == "So"


def plain(text: object) -> str:
    """``text`` as a string that shows as it reads: NFC-normalised, without bidi controls,
    control or format characters (a zero-width joiner stays inside an emoji sequence), line
    breaks turned into spaces. Idempotent."""
    text = str(text)
    kept = []
    for index, char in enumerate(text):
        inside_emoji = 0 < index < len(text) - 1 and _emoji(text[index - 1])
        if char == ZWJ and inside_emoji and unicodedata.category(text[index + 1]) == "So":
            kept.append(char)
        else:
            kept.append(_keep(char))
    return unicodedata.normalize("NFC", "".join(kept))


# CommonMark lets a backslash escape each ASCII punctuation character. A hyphen only means
# something at the start of a line (a list, a rule), so run ids and names read unescaped.
_MARKUP = frozenset(string.punctuation) - {"-"}


# GitHub-flavoured markdown turns bare addresses into links even when their punctuation is
# escaped ("https://...", "www.", "name@host"): a word joiner (invisible, and not a character
# an address may hold) before their last character keeps them text.
_AUTOLINK = re.compile(r"(?i)(?:[a-z][a-z0-9+.-]*:/|www\.|@)")
_NO_LINK = "\u2060"


def _unlink(match: re.Match) -> str:
    found = match.group(0)
    return found[:-1] + _NO_LINK + found[-1]


def escape_markdown(text: object) -> str:
    """``plain(text)`` with every ASCII punctuation character backslash-escaped (a hyphen only
    at the start), so that in Streamlit markdown links, images, ``:red[...]`` and
    ``:material/...:`` directives, emoji shortcodes, ``$...$`` LaTeX, HTML, lists and headings
    all show as the literal text. Not for code spans (backticks), where escapes show."""
    # leading spaces would start a code block; markdown drops the rest of the spacing anyway
    unlinked = _AUTOLINK.sub(
        lambda m: m.group(0)[:-1] + _NO_LINK + m.group(0)[-1], plain(text).strip()
    )
    escaped = "".join("\\" + char if char in _MARKUP else char for char in unlinked)
    return "\\" + escaped if escaped.startswith("-") else escaped
