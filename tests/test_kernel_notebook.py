"""The agent sees the notebook, in real kernels against the OpenAI-protocol test server:
``@name`` variables, ``insert_cell``, ``read_notebook`` and figures sent to the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kernel_harness import NOTEBOOK, kernel, kernel_env, load, sessions
from sse_server import ServerProcess, text_reply, tool_reply

pytestmark = pytest.mark.kernel


def sent_messages(server: ServerProcess, n: int) -> list[dict[str, Any]]:
    return list(server.requests()[n]["body"]["messages"])


def test_at_name_sends_the_dataframes_columns_and_a_namespace_summary(tmp_path: Path) -> None:
    with ServerProcess([text_reply("It has two columns."), text_reply("Fine.")]) as server, kernel(
        tmp_path, kernel_env(server, tmp_path)
    ) as k:
        load(k)
        setup = k.run("import pandas as pd\nsales = pd.DataFrame({'month': ['Jan', 'Feb'], 'revenue_eur': [10.5, 12.0]})\nthreshold = 11")
        assert setup.status == "ok", setup.text()
        out = k.run("%%agent\nWhat is in @sales? And what is `@threshold` or @nothing_here?")
        assert out.status == "ok", out.text()
        last_user = [m for m in sent_messages(server, 0) if m["role"] == "user"][-1]
        content = last_user["content"]
        assert content.startswith("What is in @sales? And what is `@threshold` or @nothing_here?")
        assert "@sales: pandas DataFrame, 2 rows × 2 columns" in content
        assert "columns (dtype): month (" in content and "revenue_eur (float64)" in content
        assert "@threshold:" not in content and "@nothing_here:" not in content  # code span, unknown
        assert "sales: DataFrame 2×2" in content and "threshold: int = 11" in content  # the summary
        [saved] = sessions(tmp_path)
        assert saved["messages"][0]["content"] == "What is in @sales? And what is `@threshold` or @nothing_here?"
        assert {b["kind"] for b in saved["messages"][0]["context"]} == {"variable", "namespace"}

        k.run("%config AgentMagics.namespace_context = False")
        k.run("%%agent\nAnd now?")
        users = [m for m in sent_messages(server, 1) if m["role"] == "user"]
        assert users[-1]["content"] == "And now?"
        assert "@sales: pandas DataFrame" in users[0]["content"]  # kept with the first request
        assert "kernel namespace" not in json.dumps(users)  # no summary: off, and not resent


def test_insert_cell_puts_one_set_next_input_payload_in_the_execute_reply(tmp_path: Path) -> None:
    replies = [
        tool_reply(
            [
                ("call_1", "insert_cell", {"source": "df.plot()"}),
                ("call_2", "insert_cell", {"source": "# Notes", "cell_type": "markdown"}),
            ]
        ),
        text_reply("I added a cell below."),
    ]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        out = k.run("%%agent\nWrite the plotting code into a new cell.")
        assert out.status == "ok", out.text()
        assert out.payload == [{"source": "set_next_input", "text": "df.plot()", "replace": False}]
        [saved] = sessions(tmp_path)
        results = {m["tool_call_id"]: m["content"] for m in saved["messages"] if m["role"] == "tool"}
        assert results["call_1"].startswith("Requested a new code cell directly below the running %%agent cell.")
        assert "does not exist yet" in results["call_1"]
        assert results["call_2"].startswith("Not inserted: a new cell was already requested")
        later = k.run("1 + 1")
        assert later.payload == []  # the next cell asks for nothing


def test_insert_cell_in_a_kernel_without_a_notebook_frontend_says_nobody_sees_it(tmp_path: Path) -> None:
    replies = [tool_reply([("call_1", "insert_cell", {"source": "x = 1"})]), text_reply("Done.")]
    with ServerProcess(replies) as server:
        env = kernel_env(server, tmp_path)
        del env["JPY_SESSION_NAME"]  # as under nbclient / jupyter execute
        with kernel(tmp_path, env) as k:
            load(k)
            out = k.run("%%agent\nPut x = 1 in a new cell.")
            assert out.payload == [{"source": "set_next_input", "text": "x = 1", "replace": False}]
            tool = [m for m in sent_messages(server, 1) if m["role"] == "tool"][0]
            assert tool["content"].startswith("Not inserted: this kernel runs without an interactive notebook frontend")


def test_read_notebook_returns_the_cells_of_the_notebook_the_kernel_runs(tmp_path: Path) -> None:
    replies = [
        tool_reply([("call_1", "read_notebook", {})]),
        tool_reply([("call_2", "read_notebook", {"start": 2, "end": 2})]),
        text_reply("Your notebook loads sales data."),
    ]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        request = "What does my notebook do?"
        notebook = {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {"cell_type": "markdown", "metadata": {}, "source": ["# Sales report"]},
                {
                    "cell_type": "code",
                    "metadata": {},
                    "execution_count": 1,
                    "source": "total = 41 + 1\nprint(total)",
                    "outputs": [{"output_type": "stream", "name": "stdout", "text": ["42\n"]}],
                },
                {"cell_type": "code", "metadata": {}, "execution_count": 2, "source": f"%%agent\n{request}", "outputs": []},
            ],
        }
        (tmp_path / NOTEBOOK).write_text(json.dumps(notebook))
        load(k)
        out = k.run(f"%%agent\n{request}")
        assert out.status == "ok", out.text()
        tool = [m for m in sent_messages(server, 1) if m["role"] == "tool"][0]["content"]
        assert tool.startswith(f"Notebook {tmp_path / NOTEBOOK}: the saved file")
        assert "3 cells" in tool and "Cell 2 is the running %%agent cell" in tool
        assert "[0] markdown\n# Sales report" in tool
        assert "[1] code, execution count 1\ntotal = 41 + 1\nprint(total)\n→ output:\n42" in tool
        ranged = [m for m in sent_messages(server, 2) if m["role"] == "tool"][-1]["content"]
        assert "Showing cells 2–2." in ranged and "Sales report" not in ranged


PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('rising')\nplt.show()"


def test_a_figure_is_sent_as_an_image_to_a_vision_model_and_as_a_note_otherwise(tmp_path: Path) -> None:
    replies = [
        tool_reply([("call_1", "python", {"code": PLOT})]),
        text_reply("The line rises, then falls."),
        tool_reply([("call_2", "python", {"code": PLOT})]),
        text_reply("A chart was drawn."),
    ]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        seen = k.run("%%agent --model openai:gpt-4o-mini\nPlot [1, 3, 2] and describe it.")
        assert seen.status == "ok", seen.text()
        sent = sent_messages(server, 1)
        tool = [m for m in sent if m["role"] == "tool"][0]
        assert "1 image (PNG" in tool["content"] and "attached in the next message" in tool["content"]
        carrier = sent[sent.index(tool) + 1]
        assert carrier["role"] == "user"
        urls = [p["image_url"]["url"] for p in carrier["content"] if p["type"] == "image_url"]
        assert len(urls) == 1 and urls[0].startswith("data:image/png;base64,iVBOR")

        [saved] = sessions(tmp_path)
        stored = [m for m in saved["messages"] if m["role"] == "tool"][0]
        [ref] = stored["images"]
        assert "base64" not in json.dumps(saved)
        image = tmp_path / ".hermes_nb" / "sessions" / ref["path"]
        assert image.read_bytes()[:4] == b"\x89PNG" and ref["path"].startswith(saved["session_id"] + ".files/")

        blind = k.run("%%agent --new --model openai:gpt-3.5-turbo\nPlot [1, 3, 2] again.")
        assert blind.status == "ok", blind.text()
        sent = sent_messages(server, 3)
        tool = [m for m in sent if m["role"] == "tool"][0]
        assert "shown to the user; not sent, this model does not accept images" in tool["content"]
        assert "image_url" not in json.dumps(sent)


LIVE_TOOLS = [
    ("call_1", "read_notebook", {}),
    ("call_2", "edit_cell", {"index": 0, "source": "total = 43"}),
    ("call_3", "insert_cell", {"source": "print(total)", "index": 0}),
]


def _notebook_with_one_cell(tmp_path: Path) -> None:
    cell = {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "total = 42", "outputs": []}
    (tmp_path / NOTEBOOK).write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}))


def test_without_the_jupyterlab_page_edit_cell_is_not_possible_and_read_notebook_reads_the_file(tmp_path: Path) -> None:
    """A Jupyter-server-like kernel (it knows its notebook) with no page attached: nothing
    waits for an answer, nothing claims a change."""
    with ServerProcess([tool_reply(LIVE_TOOLS), text_reply("Done.")]) as server, kernel(
        tmp_path, {**kernel_env(server, tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    ) as k:
        _notebook_with_one_cell(tmp_path)
        load(k)
        out = k.run("%%agent\nChange total to 43.")
        assert out.status == "ok", out.text()
        results = {m["tool_call_id"]: m["content"] for m in sent_messages(server, 1) if m["role"] == "tool"}
        assert results["call_1"].startswith(f"Notebook {tmp_path / NOTEBOOK}: the saved file")
        assert "No JupyterLab page with the hermes_nb extension is attached" in results["call_1"]
        assert results["call_2"].startswith("Not possible here") and "cell 0 was not changed" in results["call_2"]
        assert results["call_3"].startswith("Index 0 could not be honoured")
        assert out.payload == [{"source": "set_next_input", "text": "print(total)", "replace": False}]
        assert not [c for kind, c in out.comms if c.get("target_name") == "hermes_nb.ops"]  # never asked
        assert "total = 42" in (tmp_path / NOTEBOOK).read_text()


def test_a_stale_page_marker_costs_a_bounded_wait_then_the_saved_file(tmp_path: Path) -> None:
    """The page said it was there, then its tab closed: the request goes out, nobody
    answers, and after 3 s the saved file is read, saying why; the edit changes nothing."""
    runtime = tmp_path / "runtime"
    (runtime / "hermes_nb" / "frontends").mkdir(parents=True)
    (runtime / "hermes_nb" / "frontends" / "4b1d-test").write_text("0")
    with ServerProcess([tool_reply(LIVE_TOOLS[:2]), text_reply("Done.")]) as server, kernel(
        tmp_path, {**kernel_env(server, tmp_path), "JUPYTER_RUNTIME_DIR": str(runtime)},
        connection_file=runtime / "kernel-4b1d-test.json",
    ) as k:
        _notebook_with_one_cell(tmp_path)
        load(k)
        out = k.run("%%agent\nChange total to 43.", timeout=120)
        assert out.status == "ok", out.text()
        results = {m["tool_call_id"]: m["content"] for m in sent_messages(server, 1) if m["role"] == "tool"}
        assert "the saved file" in results["call_1"]
        assert "no JupyterLab page answered within 3 s" in results["call_1"]
        assert results["call_2"].startswith("Not changed: no JupyterLab page answered") and "cell 0 is unchanged" in results["call_2"]
        ops = [c for kind, c in out.comms if kind == "comm_open" and c.get("target_name") == "hermes_nb.ops"]
        assert [c["data"]["op"] for c in ops] == ["read", "edit"]
        assert len([c for kind, c in out.comms if kind == "comm_close"]) >= 2  # both withdrawn
