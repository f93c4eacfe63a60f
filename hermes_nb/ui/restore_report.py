"""What was saved of a run, told to the user after a restore.

Counting the saved turn (tool calls, results, answer text) and the restore notice
in the three forms a frontend shows: plain text, Markdown and a display bundle.
The server extension counts a dead run's turn for its banner the same way.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["RestoreReport", "SavedCounts", "count_saved"]


@dataclass(frozen=True)
class SavedCounts:
    """How much of a turn was saved: what a restore notice and the sidebar report."""

    tool_calls: int = 0
    tool_results: int = 0
    text_chars: int = 0


def count_saved(messages: Iterable[dict[str, Any]], partial_text: str = "") -> SavedCounts:
    """Tool calls asked for, results received, and characters of assistant text.

    Text counts every assistant message's content, not only the text still streaming
    when the kernel died: text the model wrote before calling a tool is part of a
    completed message by then.
    """
    calls = results = chars = 0
    for msg in messages:
        role = msg.get("role")
        if role == "assistant":
            content = msg.get("content")
            chars += len(content) if isinstance(content, str) else 0
            calls += len(msg.get("tool_calls") or ())
        elif role == "tool":
            results += 1
    return SavedCounts(calls, results, chars + len(partial_text or ""))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class RestoreReport:
    """What was saved of a run that a dead kernel left behind."""

    session_id: str
    title: str
    started_at: float | None
    had_user_message: bool
    tool_calls: int
    tool_results: int
    text_chars: int
    run_id: str | None = None

    def kept(self) -> str:
        parts = ["your request"] if self.had_user_message else []
        if self.tool_calls:
            calls = _plural(self.tool_calls, "tool call")
            if self.tool_results < self.tool_calls:
                calls += f" ({self.tool_results} with a result)"
            else:
                calls += " with " + ("its result" if self.tool_calls == 1 else "their results")
            parts.append(calls)
        elif self.tool_results:
            parts.append(_plural(self.tool_results, "tool result"))
        parts.append(f"{self.text_chars:,} characters of answer" if self.text_chars else "no answer text yet")
        return ", ".join(parts)

    def _when(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.started_at)) if self.started_at else "?"

    def notice(self, resume_hint: bool = True) -> str:
        """Plain text for a terminal (one line a sentence)."""
        text = (
            f"hermes_nb: a run was interrupted by a kernel restart "
            f"(session '{self.title}', {self.session_id}, started {self._when()}).\n"
            f"Saved: {self.kept()}."
        )
        return text + (f"\nContinue it with: %agent resume {self.session_id}" if resume_hint else "")

    def markdown(self, resume_hint: bool = True) -> str:
        """The same for a notebook cell: short lines that wrap between words."""
        from hermes_nb.ui.markdown import escape, neutralize_html

        text = (
            f"**hermes_nb: a run was interrupted by a kernel restart** "
            f"(session *{neutralize_html(escape(self.title))}*, `{self.session_id}`, started {self._when()}).  \n"
            f"Saved: {escape(self.kept())}."
        )
        return text + (f"  \nContinue it with `%agent resume {self.session_id}`." if resume_hint else "")

    def mimebundle(self, resume_hint: bool = True) -> dict[str, str]:
        from hermes_nb.safety.safe_output import printable

        return printable({"text/plain": self.notice(resume_hint), "text/markdown": self.markdown(resume_hint)})
