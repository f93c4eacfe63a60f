"""What a running tool has printed, kept and drawn for the live view.

The code's thread hands over every write (``LiveOutput.add``); the view draws the
latest lines below the tool's card (``live_output_html``) a few times a second. Only
the end is kept and drawn: a loop printing gigabytes costs the view a few kilobytes.
When the call ends its result holds the output, and the live lines go away.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from hermes_nb.ui.markdown import escape

__all__ = ["LIVE_CHARS", "LIVE_LINES", "LiveOutput", "live_output_html"]

#: characters of a running tool's output kept for the view (the latest ones)
LIVE_CHARS = 3000
#: lines drawn: the box never needs scrolling to show the latest
LIVE_LINES = 12

# Just below its card (a running card is closed), indented to belong to it.
LIVE_STYLE = (
    "margin:0 0 4px 12px;padding-left:8px;border-left:2px solid rgba(128,128,128,0.35);font-size:0.9em;"
)
PRE_STYLE = (
    "white-space:pre-wrap;word-break:break-word;margin:2px 0 6px 0;padding:4px 6px;"
    "background:rgba(128,128,128,0.08);border-radius:3px;"
)
STDERR_STYLE = "color:#d33;"


class LiveOutput:
    """The latest ``limit`` characters a running call wrote, with their streams.

    Written from the code's thread for every ``print``, so an add is an append and a
    count; the caller holds the renderer's lock.
    """

    def __init__(self, limit: int = LIVE_CHARS) -> None:
        self.limit = limit
        self.pieces: deque[tuple[str, str]] = deque()  # (stream name, text)
        self.size = 0
        self.total = 0
        self.version = 0

    def add(self, stream: str, text: str) -> None:
        self.total += len(text)
        if len(text) > self.limit:
            text = text[-self.limit :]
        self.pieces.append((stream, text))
        self.size += len(text)
        while self.pieces and self.size - len(self.pieces[0][1]) >= self.limit:
            self.size -= len(self.pieces.popleft()[1])
        self.version += 1

    def snapshot(self) -> tuple[list[tuple[str, str]], int]:
        """(pieces, characters written before them)."""
        return list(self.pieces), self.total - self.size


def settle_carriage_returns(text: str) -> str:
    """What a terminal shows: a line rewritten with ``\\r`` (a progress bar) keeps
    only its last version."""
    if "\r" not in text:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if "\r" in line:
            parts = [part for part in line.split("\r") if part]
            lines[i] = parts[-1] if parts else ""
    return "\n".join(lines)


def _runs(pieces: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive pieces of one stream joined, progress bars settled."""
    runs: list[tuple[str, str]] = []
    for stream, text in pieces:
        if runs and runs[-1][0] == stream:
            runs[-1] = (stream, runs[-1][1] + text)
        else:
            runs.append((stream, text))
    return [(stream, settle_carriage_returns(text)) for stream, text in runs]


def _last_lines(runs: list[tuple[str, str]], limit: int) -> tuple[list[tuple[str, str]], int]:
    """The runs cut to their last ``limit`` lines, and how many lines were cut."""
    whole = "".join(text for _, text in runs).rstrip("\n")
    cut = len(whole)
    for _ in range(limit):
        cut = whole.rfind("\n", 0, cut)
        if cut < 0:
            return runs, 0
    hidden = whole.count("\n", 0, cut) + 1
    skip = cut + 1
    kept = []
    for stream, text in runs:
        if skip >= len(text):
            skip -= len(text)
            continue
        kept.append((stream, text[skip:]))
        skip = 0
    return kept, hidden


def live_output_html(pieces: Iterable[tuple[str, str]], earlier: int = 0, lines: int = LIVE_LINES) -> str:
    """The latest ``lines`` lines a running call printed: stderr in red; "" before any.

    ``earlier``: characters printed before ``pieces`` (no longer kept).
    """
    runs = _runs(pieces)
    if not any(text for _, text in runs):
        return ""
    shown, hidden = _last_lines(runs, lines)
    spans = []
    for stream, text in shown:
        spans.append(f'<span style="{STDERR_STYLE}">{escape(text)}</span>' if stream == "stderr" else escape(text))
    if earlier:
        note = f"<div><i>… earlier output not shown ({earlier + sum(len(t) for _, t in runs):,} characters in all)</i></div>"
    elif hidden:
        note = f"<div><i>… {hidden:,} earlier line{'s' if hidden > 1 else ''}</i></div>"
    else:
        note = ""
    return (
        f'<div class="hermes-nb-live-output" style="{LIVE_STYLE}"><div><b>Output so far</b></div>{note}'
        f'<pre style="{PRE_STYLE}">{"".join(spans)}</pre></div>'
    )
