"""Hostile objects, arguments and files met by a run in a real kernel: the run goes on,
is saved, and what it saved still renders."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from disk_view import sessions_in
from kernel_harness import Kernel, kernel

pytestmark = pytest.mark.kernel

NOTEBOOK = "trust.ipynb"


def start(folder: Path, *replies: Any) -> dict[str, str]:
    """A notebook in ``folder`` answered by a replay script of ``replies``."""
    (folder / NOTEBOOK).write_text("{}")
    script = folder / "script.json"
    script.write_text(json.dumps({"replies": list(replies)}))
    return {"HERMES_NB_MODEL": f"replay:{script}", "JPY_SESSION_NAME": str(folder / NOTEBOOK)}


def load(k: Kernel) -> None:
    out = k.run("%load_ext hermes_nb\n%config AgentMagics.auto_title = False")
    assert out.status == "ok", out.text()


def saved(folder: Path) -> list[dict[str, Any]]:
    return sessions_in(folder / ".hermes_nb" / "sessions")


@pytest.mark.parametrize("exc", ["SystemExit", "GeneratorExit"])
def test_a_repr_raising_a_base_exception_is_a_note_and_the_request_is_saved(tmp_path: Path, exc: str) -> None:
    with kernel(tmp_path, start(tmp_path, "Seen it.")) as k:
        load(k)
        k.run(f"class Evil:\n    def __repr__(self):\n        raise {exc}()\nevil = Evil()\nitems = [Evil()]")
        out = k.run("%%agent\nWhat is @evil and @items?")
        assert out.status == "ok" and not out.error, out.text()
        assert "Traceback" not in out.text() and "Seen it." in out.text()
        [session] = saved(tmp_path)
        user = session["messages"][0]
        assert user["content"] == "What is @evil and @items?"
        texts = {block["name"]: block["text"] for block in user["context"] if block.get("kind") == "variable"}
        assert f"<repr failed: {exc}>" in texts["evil"]
        assert exc in texts["items"]
        assert session["messages"][-1]["content"] == "Seen it."
        assert k.run("1 + 1").status == "ok"  # the kernel is fine


HOSTILE = str(Path(__file__).resolve().parent / "hostile_mcp_server.py")


def test_a_hostile_mcp_image_is_never_html_or_script_in_any_output(tmp_path: Path) -> None:
    env = start(
        tmp_path,
        {"text": "Taking one.", "tool_calls": [{"name": "h__snapshot", "arguments": {}}]},
        "It was not a picture.",
    )
    with kernel(tmp_path, env) as k:
        load(k)
        servers = {"h": {"command": sys.executable, "args": [HOSTILE], "policy": "allow"}}
        assert k.run(f"%config AgentMagics.mcp_servers = {json.dumps(servers)}").status == "ok"
        out = k.run("%%agent\nTake a snapshot.", timeout=120)
        assert "It was not a picture." in out.text(), out.text()
        history = k.run("%agent history")
        assert history.status == "ok", history.text()
        everything = [*out.displays, *history.displays]
        sent = json.dumps(everything) + "".join(data for _, data in out.comm_log)
        assert '"application/javascript": ' not in sent
        assert "<script" not in sent and "__hermes_pwned" not in sent
        assert "Here is the snapshot." in sent and "not an image" in sent  # the result was shown
        assert "hermes-pwned-html" not in sent and "image/svg+xml\": " not in sent
        [session] = saved(tmp_path)
        assert "__hermes_pwned" not in json.dumps(session)


def test_arguments_nested_5000_deep_and_a_lone_surrogate_neither_end_the_run_nor_its_rendering(tmp_path: Path) -> None:
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    env = start(
        tmp_path,
        {"text": "Going deep.", "tool_calls": [{"name": "read_file", "arguments": '{"path": "x", "more": ' + deep + "}"}]},
        "After the deep call \ud800 with half a character.",
    )
    with kernel(tmp_path, env) as k:
        load(k)
        out = k.run("%%agent\nGo deep.", timeout=120)
        assert out.status == "ok" and "RecursionError" not in out.text(), out.text()[-2000:]
        assert "After the deep call" in out.text() and "nested deeper than" in out.text()
        [session] = saved(tmp_path)
        assert session["messages"][-1]["content"].startswith("After the deep call")
        history = k.run("%agent history")
        assert history.status == "ok" and "RecursionError" not in history.text(), history.text()[-2000:]
        assert "After the deep call" in history.text() and "…" in history.html()
        for fmt in ("md", "json"):
            target = tmp_path / f"export.{fmt}"
            done = k.run(f"%agent export --format {fmt} --output {target}")
            assert done.status == "ok", done.text()[-2000:]
            assert "After the deep call" in target.read_text(encoding="utf-8")
        again = k.run("%%agent\nStill there?", timeout=120)  # the session goes on
        assert again.status == "ok" and "RecursionError" not in again.text(), again.text()[-2000:]
