"""The approval prompt shows the whole call: no tail hidden behind padding or invisible text."""

from __future__ import annotations

import builtins
from typing import Any

import pytest
from notebook_shell import Notebook

from hermes_nb.agent.tools.approval import PROMPT_CHARS, SHOW_CHARS, approval_for, show_call

PADDED = "echo harmless" + " " * 5000 + "; rm -rf ~/important"


def test_a_command_padded_with_spaces_shows_its_tail_and_the_padding() -> None:
    shown = show_call("shell", {"command": PADDED})
    assert shown == 'shell(command="echo harmless ⟪5000 spaces⟫ ; rm -rf ~/important")'
    question = approval_for("shell", {"command": PADDED})
    assert question.refusal is None and question.above is None
    assert "rm -rf ~/important" in question.prompt


def test_invisible_and_control_characters_are_made_visible() -> None:
    # a bidi override would show "ls" while "rm" runs; \r would overwrite the line
    shown = show_call("shell", {"command": "echo \u202eexe.ls\r\x1b[2Kls\u200b"})
    assert "\\u202e" in shown and "\\r" in shown and "\\u001b" in shown and "\\u200b" in shown
    assert "\u202e" not in shown and "\r" not in shown and "\x1b" not in shown


def test_a_long_call_is_printed_whole_above_the_prompt_and_a_huge_one_refused() -> None:
    content = "line of text\n" * 1000
    question = approval_for("write_file", {"path": "notes.txt", "content": content})
    assert len(question.prompt) < 200 and question.above is not None
    assert question.above.count("line of text") == 1000
    huge = approval_for("write_file", {"path": "x", "content": "a" * (SHOW_CHARS + 1)})
    assert huge.refusal is not None and "too long" in huge.refusal
    assert PROMPT_CHARS < SHOW_CHARS


def test_the_cell_asks_with_the_whole_padded_command(nb: Notebook, monkeypatch: pytest.MonkeyPatch) -> None:
    nb.use_script(
        {"text": "", "tool_calls": [{"name": "shell", "arguments": {"command": PADDED}}]},
        "I did not run it.",
    )
    prompts: list[str] = []

    def answer(prompt: str = "") -> str:
        prompts.append(prompt)
        return "n"

    monkeypatch.setattr(builtins, "input", answer)
    nb.run("%%agent\nTidy up.").ok()
    [prompt] = prompts
    assert "rm -rf ~/important" in prompt and "⟪5000 spaces⟫" in prompt
    results = [m for m in nb.on_disk()["messages"] if m["role"] == "tool"]
    assert results[0]["content"].startswith("The user declined")


def test_a_call_too_long_to_show_is_refused_without_asking(nb: Notebook, monkeypatch: pytest.MonkeyPatch) -> None:
    nb.use_script(
        {"text": "", "tool_calls": [{"name": "shell", "arguments": {"command": "x" * (SHOW_CHARS + 10)}}]},
        "Refused.",
    )
    asked: list[Any] = []
    monkeypatch.setattr(builtins, "input", lambda prompt="": asked.append(prompt) or "y")
    cell = nb.run("%%agent\nDo it.").ok()
    assert asked == []
    assert "too long to show" in cell.err


def test_a_read_outside_the_folder_says_why_it_asks(nb: Notebook, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = nb.folder.parent / "elsewhere.txt"
    outside.write_text("far away")
    nb.use_script(
        {"text": "", "tool_calls": [{"name": "read_file", "arguments": {"path": "../elsewhere.txt"}}]},
        {"text": "", "tool_calls": [{"name": "read_file", "arguments": {"path": "nb.ipynb"}}]},
        "Done.",
    )
    (nb.folder / "nb.ipynb").write_text("{}")
    prompts: list[str] = []
    monkeypatch.setattr(builtins, "input", lambda prompt="": prompts.append(prompt) or "y")
    nb.run("%%agent\nRead both.").ok()
    assert prompts == ['read_file wants a path outside the notebook\'s folder. Allow read_file(path="../elsewhere.txt")? [y/N] ']
    results = [m["content"] for m in nb.on_disk()["messages"] if m["role"] == "tool"]
    assert results == ["far away", "{}"]
