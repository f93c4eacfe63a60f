"""Model Markdown to safe HTML.

Model output is untrusted: raw HTML in it is shown as text (``html`` off), and
markdown-it refuses ``javascript:``-style links. Code fences with a known language
are coloured by Pygments (inline styles, so no stylesheet is needed) when it is
installed. The parser is built on first use so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import html
import logging
import re
from typing import Any

__all__ = ["escape", "highlight_code", "neutralize_html", "render_markdown", "stable_split"]

log = logging.getLogger("hermes_nb.ui")

_PARSER: Any = None


def escape(text: str) -> str:
    """HTML-escape text, quotes included (it may end up inside an attribute)."""
    return html.escape(text, quote=True)


@functools.lru_cache(maxsize=1)
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True, noclasses=True)


@functools.lru_cache(maxsize=64)
def _lexer(lang: str) -> Any:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(lang)
    except ClassNotFound:
        return None


def highlight_code(code: str, lang: str) -> str:
    """``code`` as coloured HTML spans (no ``<pre>``), or "" for an unknown language."""
    return _highlight(code, lang, "")


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """Colour a fenced block; an empty string tells markdown-it to escape it plainly."""
    if not lang:
        return ""
    try:
        from pygments import highlight

        lexer = _lexer(lang.lower())
    except ImportError:  # pragma: no cover - pygments comes with IPython
        return ""
    if lexer is None:
        return ""
    return str(highlight(code, lexer, _formatter()))


def _parser() -> Any:
    global _PARSER
    if _PARSER is None:
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
        md.enable(["table", "strikethrough"])
        _PARSER = md
    return _PARSER


def render_markdown(text: str) -> str:
    """Render Markdown to an HTML fragment; raw HTML in ``text`` is escaped."""
    return str(_parser().render(text))


def stable_split(text: str, start: int = 0, min_chunk: int = 2000) -> int:
    """Offset after which ``text`` may be rendered apart from what comes before it.

    A streaming renderer re-renders the growing end of a long answer. Cutting it at a
    paragraph boundary outside any code fence lets the part before the cut be rendered
    once and kept. Returns ``start`` when ``text[start:]`` is shorter than
    ``min_chunk`` or has no safe boundary. Rendering the halves apart can differ from
    rendering the whole in rare cases (a loose list split in two, a reference link
    defined later), which is why the final transcript renders the whole text.
    """
    if len(text) - start < min_chunk:
        return start
    best = start
    pos = start
    fence = ""  # the opening fence marker while inside a fenced block
    prev_blank = False
    for line in text[start:].splitlines(keepends=True):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if (
            not fence
            and prev_blank
            and pos - start >= min_chunk // 2
            and stripped.strip()
            and indent == 0
            and line[0] not in "\t"
        ):
            best = pos
        if indent < 4 and stripped.startswith(("```", "~~~")):
            fence = _next_fence(stripped, fence)
        prev_blank = not line.strip()
        pos += len(line)
    return best


def _next_fence(stripped: str, fence: str) -> str:
    """The open code fence after a fence line (``fence`` is the one open before, or "")."""
    marker = stripped[0]
    if not fence:
        return marker * (len(stripped) - len(stripped.lstrip(marker)))
    if stripped.startswith(fence) and not stripped.strip().strip(marker):
        return ""
    return fence


_CODE_SPAN = re.compile(r"(`+)(?:.|\n)*?(?<!`)\1(?!`)")


def neutralize_html(text: str) -> str:
    """Markdown with every ``<`` outside code written as ``&lt;``.

    For Markdown we hand to someone else's renderer (a saved ``text/markdown``
    output, an export) that may let raw HTML through: it reads the same, but a tag
    in model output stays text. Code spans and fenced blocks are left alone.
    """
    out: list[str] = []
    fence = ""
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip(" \t")
        if stripped.startswith(("```", "~~~")):
            fence = _next_fence(stripped, fence)
            out.append(line)
            continue
        if fence or "<" not in line:
            out.append(line)
            continue
        pieces, last = [], 0
        for match in _CODE_SPAN.finditer(line):
            pieces.append(line[last : match.start()].replace("<", "&lt;"))
            pieces.append(match.group(0))
            last = match.end()
        pieces.append(line[last:].replace("<", "&lt;"))
        out.append("".join(pieces))
    return "".join(out)
