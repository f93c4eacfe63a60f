"""%%agent in a real terminal IPython (no kernel, no widgets): events print as text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_a_terminal_ipython_session_runs_the_agent_and_prints_as_text(tmp_path: Path) -> None:
    script = {
        "replies": [
            {"tool_calls": [{"name": "python", "arguments": {"code": "total = sum(range(10))\ntotal"}}]},
            {"text": "The total is 45."},
        ]
    }
    (tmp_path / "script.json").write_text(json.dumps(script))
    typed = "\n".join([
        "%load_ext hermes_nb",
        '%config AgentMagics.model = "replay:script.json"',
        "%%agent",
        "Add up 0..9 with python.",
        "",
        "",
        "%agent sessions",
        'print("namespace:", total)',
        "exit",
        "",
    ])
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--simple-prompt", "--colors=NoColor"],
        input=typed, capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    out = done.stdout + done.stderr
    assert "⚙ python(" in out and "The total is 45." in out, out
    assert "Add up 0..9 with python" in out  # the session list, titled by the request
    assert "namespace: 45" in out  # the tool ran in the user's namespace
    assert "Traceback" not in out
    [saved] = [p for p in (tmp_path / ".hermes_nb" / "sessions").glob("*.json") if p.name != "_index.json"]
    assert json.loads(saved.read_text())["messages"][-1]["content"] == "The total is 45."


def test_a_terminal_shows_tool_values_errors_and_a_plain_history(tmp_path: Path) -> None:
    script = {
        "replies": [
            {"tool_calls": [{"name": "python", "arguments": {"code": "print('it is')\n6 * 7"}}]},
            {"tool_calls": [{"name": "python", "arguments": {"code": "1 / 0"}}]},
            {"text": "Done: 42, and 1/0 fails."},
        ]
    }
    (tmp_path / "script.json").write_text(json.dumps(script))
    typed = "\n".join([
        "%load_ext hermes_nb",
        '%config AgentMagics.model = "replay:script.json"',
        "%%agent",
        "Compute 'six times seven'.",
        "",
        "",
        "%agent history",
        "exit",
        "",
    ])
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--simple-prompt", "--colors=NoColor"],
        input=typed, capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    out = done.stdout + done.stderr
    assert "✓ python done" in out and "    it is" in out and "    42" in out, out
    assert "✗ python failed" in out and "ZeroDivisionError" in out, out
    history = out[out.index("[1] User") :]
    assert "Compute 'six times seven'." in history
    assert "&#x27;" not in history and "<details>" not in history and "<summary>" not in history
    assert "Done: 42, and 1/0 fails." in history
