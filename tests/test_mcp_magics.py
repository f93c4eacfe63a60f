"""``%agent mcp`` and MCP servers in ``%%agent`` runs, in an in-process IPython shell."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
from mcp_harness import SERVER
from notebook_shell import (
    Notebook,
)

from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.mcp.manager import manager

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def stop_servers(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stop the servers after each test; approvals go to a config folder of the test's own."""
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path_factory.mktemp("jupyter-config")))
    yield
    manager().shutdown()


def offered_tools(replays: list[ReplayProvider]) -> set[str]:
    return {t["function"]["name"] for p in replays for request in p.tools for t in request}


def configure(nb: Notebook, **entry: object) -> None:
    servers = {"t": {"command": sys.executable, "args": [SERVER], **entry}}
    nb.run(f"%config AgentMagics.mcp_servers = {servers!r}").ok()
    nb.run("%config AgentMagics.mcp_start_wait = 60.0").ok()  # a busy machine may need it


def test_without_servers_mcp_says_where_to_configure_them(nb: Notebook) -> None:
    out = nb.run("%agent mcp").ok().out
    assert "No MCP servers configured" in out and ".hermes_nb/mcp.json" in out


def test_restart_needs_a_configured_name(nb: Notebook) -> None:
    assert "which server" in nb.run("%agent mcp restart").usage_error()
    assert "no MCP server named 'x'" in nb.run("%agent mcp restart x").usage_error()
    assert nb.run("%agent mcp stop t").error is not None  # only 'restart' is a command


def test_a_run_offers_the_servers_tools_and_calls_one(nb: Notebook, replays: list[ReplayProvider]) -> None:
    configure(nb, tool_policies={"echo": "allow"})
    assert "not started" in nb.run("%agent mcp").ok().out
    nb.use_script({"tool_calls": [{"name": "t__echo", "arguments": {"text": "from MCP"}}]}, "Echoed.")
    cell = nb.run("%%agent\nEcho something.").ok()
    assert "Echoed." in cell.out
    offered = offered_tools(replays)
    assert "t__echo" in offered and "python" in offered
    tool_results = [m for m in nb.on_disk()["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_results] == ["from MCP"]
    listing = nb.run("%agent mcp").ok().out
    assert "running" in listing and "t__echo" in listing and "allow" in listing and "t__add" in listing
    restarted = nb.run("%agent mcp restart t").ok().out
    assert restarted.startswith("Restarted t:")


def test_an_ask_tool_with_nobody_to_ask_is_refused(nb: Notebook) -> None:
    configure(nb)
    nb.use_script({"tool_calls": [{"name": "t__add", "arguments": {"a": 1, "b": 2}}]}, "Refused.")
    nb.run("%%agent\nAdd.").ok()
    [result] = [m for m in nb.on_disk()["messages"] if m["role"] == "tool"]
    assert result["content"].startswith("Not run: the tool 't__add' needs the user's approval")


def test_a_server_that_cannot_start_is_one_line_and_the_run_goes_on(nb: Notebook) -> None:
    nb.run('%config AgentMagics.mcp_servers = {"broken": {"command": "hermes-no-such-command-xyz"}}').ok()
    nb.use_script("Answered without it.")
    cell = nb.run("%%agent\nHello.").ok()
    assert "Answered without it." in cell.out
    lines = [ln for ln in cell.out.splitlines() if "broken" in ln]
    assert len(lines) == 1 and "did not start" in lines[0], cell.out
    assert "failed" in nb.run("%agent mcp").ok().out


def test_a_bad_config_file_is_one_line_and_the_run_goes_on(nb: Notebook) -> None:
    path = nb.folder / ".hermes_nb" / "mcp.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text("{broken", encoding="utf-8")
    nb.use_script("Fine.")
    cell = nb.run("%%agent\nHello.").ok()
    assert "Fine." in cell.out
    assert f"MCP: cannot read {path}" in cell.out
    assert path.read_text(encoding="utf-8") == "{broken"  # left as it was


def test_the_notebooks_file_is_read_and_its_servers_start_only_once_approved(
    nb: Notebook, replays: list[ReplayProvider]
) -> None:
    path = nb.folder / ".hermes_nb" / "mcp.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"mcpServers": {"t": {"command": sys.executable, "args": [SERVER]}}}))
    nb.run("%config AgentMagics.mcp_start_wait = 60.0").ok()
    listing = nb.run("%agent mcp").ok().out
    assert listing.startswith("t  [stdio]") and "waiting for your approval" in listing, listing
    nb.use_script("ok", "ok again")
    cell = nb.run("%%agent\nHi.").ok()
    assert "t__add" not in offered_tools(replays)
    [line] = [ln for ln in cell.out.splitlines() if "wait for your approval" in ln]
    assert "%agent mcp trust" in line and "%agent mcp untrust" in line and ": t (" in line
    assert "Approved t" in nb.run("%agent mcp trust").ok().out
    nb.run("%%agent\nHi again.").ok()
    assert "t__add" in offered_tools(replays)
    assert "approved folder server" in nb.run("%agent mcp").ok().out
    assert "Withdrew the approval of t" in nb.run("%agent mcp untrust").ok().out
    assert "waiting for your approval" in nb.run("%agent mcp").ok().out
    assert "waits for your approval" in nb.run("%agent mcp restart t").usage_error()


def test_without_the_sdk_the_cell_says_what_to_install(nb: Notebook, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(nb)
    monkeypatch.setitem(sys.modules, "mcp", None)  # import mcp now raises ImportError
    nb.use_script("Still answered.")
    cell = nb.run("%%agent\nHi.").ok()
    assert "Still answered." in cell.out
    assert "pip install 'hermes-nb[mcp]'" in cell.out


def test_no_tools_starts_no_server(nb: Notebook) -> None:
    configure(nb)
    nb.use_script("Plain.")
    nb.run("%%agent --no-tools\nHi.").ok()
    assert "not started" in nb.run("%agent mcp").ok().out



def test_a_hung_server_is_waited_for_only_mcp_start_wait_and_the_cell_says_so(nb: Notebook) -> None:
    hung = {"hung": {"command": sys.executable, "args": ["-c", "import time; time.sleep(3600)"]}}
    nb.run(f"%config AgentMagics.mcp_servers = {hung!r}").ok()
    nb.run("%config AgentMagics.mcp_start_wait = 1.0").ok()
    nb.use_script("Answered.", "Again.")
    cell = nb.run("%%agent\nHello.").ok()
    assert "MCP: starting hung" in cell.err  # while it waits
    assert "Answered." in cell.out and "'hung' is still starting" in cell.out  # in the run's transcript
    assert "hung  [stdio]" in nb.run("%agent mcp").ok().out and "starting" in nb.run("%agent mcp").ok().out
    again = nb.run("%%agent\nHello again.").ok()
    assert "Again." in again.out and "'hung' is still starting" in again.out
    assert "MCP: starting" not in again.err  # not waited for a second time


def test_percent_agent_mcp_shows_renamed_tools_and_keeps_its_columns_for_long_names(nb: Notebook) -> None:
    configure(nb, tool_policies={"echo": "allow"})
    assert nb.run("%agent mcp restart t").ok().out.startswith("Restarted t:")
    tool_lines = [ln for ln in nb.run("%agent mcp").ok().out.splitlines() if ln.startswith("    t__")]
    assert len(tool_lines) >= 10, tool_lines
    [dotted] = [ln for ln in tool_lines if "(the server's 'lookup.user')" in ln]
    assert dotted.split()[0].startswith("t__lookup_user_")
    assert any(ln.split()[0] == "t__lookup_user" for ln in tool_lines)
    columns = {ln.index(ln.split()[1], len("    ") + len(ln.split()[0])) for ln in tool_lines}
    assert len(columns) == 1, tool_lines  # every policy starts in the same column
    assert max(len(ln.split()[0]) for ln in tool_lines) > 32  # the long names, past the old width


def test_a_failed_mcp_call_is_saved_as_failed(nb: Notebook, replays: list[ReplayProvider]) -> None:
    configure(nb, policy="allow")
    nb.use_script(
        {"tool_calls": [{"name": "t__fail", "arguments": {"reason": "no such table"}}]},
        {"tool_calls": [{"name": "t__echo", "arguments": {"text": "Error rate: 0.1%"}}]},
        "Done.",
    )
    nb.run("%%agent\nTry both.").ok()
    failed, echoed = [m for m in nb.on_disk()["messages"] if m["role"] == "tool"]
    assert failed["is_error"] is True and "no such table" in failed["content"]
    assert "is_error" not in echoed and echoed["content"] == "Error rate: 0.1%"
    sent = [m for p in replays for request in p.requests for m in request if m.get("role") == "tool"]
    assert sent and all("is_error" not in m for m in sent)  # a flag for the user, not the API
