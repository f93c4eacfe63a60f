"""Against the MCP project's reference server, server-everything (npm), over stdio.

The package is installed once into a cache folder (``$HERMES_NB_TEST_CACHE``, default
``~/.cache/hermes_nb-tests``) from the npm registry; later runs reuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp_harness import call, completed, run_agent

from hermes_nb.agent.tools import ToolRegistry
from hermes_nb.mcp.manager import McpManager, Prepared
from hermes_nb.mcp.settings import parse_server

pytestmark = pytest.mark.slow

EVERYTHING = "@modelcontextprotocol/server-everything@2026.8.31"


def cache_dir() -> Path:
    return Path(os.environ.get("HERMES_NB_TEST_CACHE") or Path.home() / ".cache" / "hermes_nb-tests")


@pytest.fixture(scope="module")
def everything_js() -> Path:
    """server-everything's entry point, installed into the cache on first use."""
    folder = cache_dir() / "npm"
    entry = folder / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
    if not entry.is_file():
        npm = shutil.which("npm")
        assert npm is not None, "npm is needed to install the reference MCP server"
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--silent", EVERYTHING],
                       check=True, timeout=600)
    return entry


@pytest.fixture
def everything(everything_js: Path, tmp_path: Path) -> Iterator[tuple[McpManager, Prepared]]:
    config = parse_server("ev", {"command": shutil.which("node") or "node", "args": [str(everything_js), "stdio"],
                                 "policy": "allow"})
    assert config is not None
    mgr = McpManager()
    try:
        yield mgr, mgr.prepare({"ev": config}, tmp_path, call_timeout=60.0, start_timeout=120.0)
    finally:
        mgr.shutdown()


def test_its_tools_are_listed_and_called(everything: tuple[McpManager, Prepared]) -> None:
    _, prepared = everything
    assert prepared.notices == []
    tool = ToolRegistry(prepared.tools).get("ev__get-sum")
    assert tool is not None
    assert "42" in tool.call({"a": 19, "b": 23}).text


def test_an_embedded_text_resource_reaches_the_model_as_its_text(everything: tuple[McpManager, Prepared]) -> None:
    _, prepared = everything
    result, events = run_agent(prepared, [call("ev__get-resource-reference", resourceType="Text", resourceId=1), "ok"])
    [done] = completed(events)
    assert "Resource 1: This is a plaintext resource" in done.result and not done.is_error
    sent = [m for m in result.messages if m["role"] == "tool"][0]["content"]
    assert "Resource 1: This is a plaintext resource" in sent


def test_a_resource_link_can_be_read_through_the_servers_read_resource_tool(everything: tuple[McpManager, Prepared]) -> None:
    _, prepared = everything
    result, events = run_agent(prepared, [
        call("ev__get-resource-links", count=2),
        call("ev__read_resource", uri="demo://resource/dynamic/text/2"),
        "ok",
    ])
    links, read = completed(events)
    assert "[resource demo://resource/dynamic/text/2" in links.result
    assert not read.is_error and "Resource 2" in read.result, read.result


def test_content_for_the_user_is_shown_and_not_sent_to_the_model(everything: tuple[McpManager, Prepared]) -> None:
    _, prepared = everything
    result, events = run_agent(prepared, [
        call("ev__get-annotated-message", messageType="success", includeImage=True),
        call("ev__get-annotated-message", messageType="debug", includeImage=False),
        "ok",
    ])
    user_only, for_model = completed(events)
    assert "Operation completed successfully" not in user_only.result  # what the model reads
    shown = [o["data"] for o in user_only.outputs]
    assert {"text/plain": "Operation completed successfully"} in shown and any("image/png" in d for d in shown)
    saved = [m for m in result.messages if m["role"] == "tool"]
    assert "Operation completed successfully" not in saved[0]["content"] and not saved[0].get("images")
    assert "Debug: Cache hit ratio" in for_model.result and "Debug: Cache hit ratio" in saved[1]["content"]


def test_the_server_is_given_the_notebooks_folder_as_its_only_root(
    everything: tuple[McpManager, Prepared], tmp_path: Path
) -> None:
    _, prepared = everything
    tool = ToolRegistry(prepared.tools).get("ev__get-roots-list")
    assert tool is not None, sorted(t.name for t in prepared.tools)
    out = tool.call({}).text
    assert tmp_path.resolve().as_uri() in out and out.count("file://") == 1, out


def test_a_tool_that_needs_task_mode_is_not_offered(everything: tuple[McpManager, Prepared]) -> None:
    mgr, prepared = everything
    names = {t.name for t in prepared.tools}
    assert "ev__simulate-research-query" not in names and "ev__get-sum" in names


def test_sampling_is_not_declared_and_elicitation_is_declined_where_nobody_can_answer(
    everything: tuple[McpManager, Prepared],
) -> None:
    """Sampling is not declared, so its demo tool is not offered; elicitation is, and a
    question asked where there is no one to answer it is declined."""
    _, prepared = everything
    names = {t.name for t in prepared.tools}
    assert "ev__trigger-sampling-request" not in names, names
    _, events = run_agent(prepared, [call("ev__trigger-elicitation-request"), "ok"])
    [asked] = completed(events)
    assert "declined" in asked.result and not asked.is_error, asked.result


def test_over_streamable_http_its_tools_are_listed_and_called(everything_js: Path) -> None:
    from server_harness import free_port
    from waiting import wait_until

    port = free_port()
    proc = subprocess.Popen([shutil.which("node") or "node", str(everything_js), "streamableHttp"],
                            env={**os.environ, "PORT": str(port)}, stderr=subprocess.PIPE, text=True)
    mgr = McpManager()
    try:
        assert proc.stderr is not None
        assert wait_until(lambda: "listening" in proc.stderr.readline(), 60)
        config = parse_server("web", {"url": f"http://127.0.0.1:{port}/mcp", "policy": "allow"})
        assert config is not None
        prepared = mgr.prepare({"web": config}, None, call_timeout=60.0, start_timeout=120.0)
        assert prepared.notices == []
        _, events = run_agent(prepared, [call("web__echo", message="over HTTP"), "ok"])
        [echo] = completed(events)
        assert "over HTTP" in echo.result and not echo.is_error
    finally:
        mgr.shutdown()
        proc.terminate()
        proc.wait(10)


@pytest.mark.kernel
def test_a_servers_question_is_asked_in_the_cell_and_the_answer_reaches_it(everything_js: Path, tmp_path: Path) -> None:
    import json

    from kernel_harness import kernel, kernel_env, load, sessions
    from sse_server import ServerProcess, text_reply, tool_reply

    servers = {"ev": {"command": shutil.which("node") or "node", "args": [str(everything_js), "stdio"], "policy": "allow"}}
    replies = [tool_reply([("call_1", "ev__trigger-elicitation-request", {})]), text_reply("Thanks.")]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        k.run(f"%config AgentMagics.mcp_servers = {json.dumps(servers)}\n%config AgentMagics.mcp_start_wait = 120.0")
        running = k.submit("%%agent\nAsk me.", allow_stdin=True)
        prompt = k.answer_input("y", timeout=120)
        assert "Answer it?" in prompt
        assert k.answer_input("Ada Lovelace").startswith("String (string)")  # the name, the one required field
        for _ in range(12):  # every other field keeps its default or stays empty
            k.answer_input("")
        done = k.collect(running, timeout=120)
        assert "Thanks." in done.text(), done.text()
        assert "The MCP server 'ev' asks" in done.text()
    [saved] = sessions(tmp_path)
    [result] = [m["content"] for m in saved["messages"] if m.get("role") == "tool"]
    assert "User provided the requested information" in result and "Ada Lovelace" in result, result
