"""Every symbol the UI can show is in DejaVu Sans.

DejaVu Sans is the fallback font of nearly every Linux desktop, server browser and
JupyterHub image; a character it lacks shows as an empty box wherever no emoji font is
installed (Debian's chromium, for one). The check reads the font's own character map,
so the font file must be on the machine: Debian's ``fonts-dejavu-core``, which
``.ci/run`` installs.
"""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from functools import cache
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from hermes_nb.ui.fragments import REASONING_ICON, STATUS_ICONS

ROOT = Path(__file__).resolve().parent.parent
FAMILY = "DejaVu Sans"
DEBIAN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# Everything that ends up on screen: the kernel side's text and HTML, and the
# JupyterLab extension's sources and styles.
SOURCES = [
    *sorted((ROOT / "hermes_nb").rglob("*.py")),
    *sorted((ROOT / "labextension" / "src").rglob("*.ts")),
    *sorted((ROOT / "labextension" / "style").rglob("*.css")),
]


def _family(font: TTFont) -> str:
    return str(font["name"].getDebugName(1) or "")


def _font_file() -> Path:
    """DejaVu Sans Book: Debian's path, else wherever fontconfig says it is."""
    if DEBIAN_FONT.is_file():
        return DEBIAN_FONT
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "--format=%{file}", f"{FAMILY}:style=Book"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if found and _family(TTFont(found, lazy=True)) == FAMILY:
            return Path(found)
    pytest.fail(f"{FAMILY} is not installed (Debian: apt-get install fonts-dejavu-core)")


@cache
def _cmap() -> frozenset[int]:
    font = TTFont(_font_file(), lazy=True)
    assert _family(font) == FAMILY
    return frozenset(font.getBestCmap())


def _missing(chars: str) -> list[str]:
    return [f"U+{ord(c):04X} {c} {unicodedata.name(c, '?')}" for c in chars if ord(c) not in _cmap()]


def test_the_check_tells_emoji_from_what_the_font_has() -> None:
    # The glyphs that used to be shown and rendered as empty boxes.
    assert len(_missing("\u23f3\u26d4\U0001f4ad")) == 3
    assert _missing("A\u2026\u2713\u2298") == []


def test_status_and_reasoning_icons_are_in_the_font() -> None:
    assert _missing("".join(STATUS_ICONS.values()) + REASONING_ICON) == []


def test_the_sources_are_scanned() -> None:
    names = {p.name for p in SOURCES}
    assert {"fragments.py", "transcript.py", "text.py", "widget.py", "diff.ts", "base.css"} <= names


def test_every_non_ascii_character_in_the_sources_is_in_the_font() -> None:
    missing = {}
    for path in SOURCES:
        chars = sorted({c for c in path.read_text(encoding="utf-8") if ord(c) > 127})
        if found := _missing("".join(chars)):
            missing[str(path.relative_to(ROOT))] = found
    assert missing == {}
