"""Real MCP servers (tests/mcp_test_server.py, built with the SDK) over stdio and
streamable HTTP, driven through the manager and the agent loop with a scripted model."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mcp_harness import SERVER, alive, call, completed, run_agent
from waiting import refused_port, wait_until

from hermes_nb.agent.tools import ToolRegistry
from hermes_nb.errors import McpError
from hermes_nb.mcp.manager import McpManager, Prepared
from hermes_nb.mcp.settings import ServerConfig, parse_server

pytestmark = pytest.mark.slow



def stdio(name: str = "t", **entry: Any) -> ServerConfig:
    config = parse_server(name, {"command": sys.executable, "args": [SERVER], **entry})
    assert config is not None
    return config


@pytest.fixture
def mgr() -> Iterator[McpManager]:
    m = McpManager()
    yield m
    m.shutdown()


def prepare(mgr: McpManager, *configs: ServerConfig, folder: Path | None = None, call_timeout: float = 30.0) -> Prepared:
    return mgr.prepare({c.name: c for c in configs}, folder, call_timeout=call_timeout, start_timeout=60.0)


def server_pid(mgr: McpManager, name: str = "t") -> int:
    conn = mgr.connections[name]
    return int(conn.call("whoami", {}, 30.0, None).content[0].text)


# -- stdio -------------------------------------------------------------------------------


def test_a_stdio_servers_tools_join_as_server__tool_with_its_schema_and_ask(mgr: McpManager) -> None:
    prepared = prepare(mgr, stdio())
    assert prepared.notices == []
    tools = {t.name: t for t in prepared.tools}
    assert {"t__add", "t__echo", "t__crash", "t__hang", "t__picture"} <= set(tools)
    add = tools["t__add"]
    assert add.policy == "ask"
    assert add.parameters["properties"].keys() == {"a", "b"}
    assert sorted(add.parameters["required"]) == ["a", "b"]
    assert "Add two integers" in add.description
    assert mgr.connections["t"].state == "running"


def test_the_scripted_model_calls_a_tool_and_gets_its_result(mgr: McpManager) -> None:
    prepared = prepare(mgr, stdio(policy="allow"))
    result, events = run_agent(prepared, [call("t__add", a=2, b=40), {"text": "It is 42."}])
    [done] = completed(events)
    assert (done.name, done.result, done.is_error) == ("t__add", "42", False)
    assert result.stop_reason == "complete" and result.text == "It is 42."
    assert {"role": "tool", "tool_call_id": result.messages[0]["tool_calls"][0]["id"], "content": "42"}.items() <= result.messages[1].items()


def test_the_server_is_reused_across_runs(mgr: McpManager) -> None:
    prepare(mgr, stdio(policy="allow"))
    first = server_pid(mgr)
    prepare(mgr, stdio(policy="allow"))
    assert server_pid(mgr) == first


def test_an_ask_policy_prompts_and_a_no_keeps_the_call_from_the_server(mgr: McpManager) -> None:
    prepared = prepare(mgr, stdio(tool_policies={"add": "allow"}))
    asked: list[tuple[str, dict[str, Any]]] = []

    def approve(name: str, arguments: dict[str, Any]) -> bool:
        asked.append((name, arguments))
        return arguments.get("text") == "yes please"

    _, events = run_agent(
        prepared,
        [call("t__echo", text="yes please"), call("t__echo", text="no thanks"), call("t__add", a=1, b=1), {"text": "done"}],
        approve,
    )
    assert asked == [("t__echo", {"text": "yes please"}), ("t__echo", {"text": "no thanks"})]  # add is allowed
    results = [(e.result, e.is_error) for e in completed(events)]
    assert results[0] == ("yes please", False)
    assert results[1][1] and "declined" in results[1][0]
    assert results[2] == ("2", False)


def test_a_tool_error_and_an_image_come_back_as_such(mgr: McpManager) -> None:
    prepared = prepare(mgr, stdio(policy="allow"))
    _, events = run_agent(prepared, [call("t__fail", reason="no such table"), call("t__picture"), {"text": "ok"}])
    failed, picture = completed(events)
    assert failed.is_error and "no such table" in failed.result
    assert not picture.is_error and "[image image/png" in picture.result
    assert picture.outputs[0]["data"]["image/png"].startswith("iVBORw0KGgo")


def test_a_server_that_crashes_mid_call_is_a_tool_error_the_run_goes_on_and_it_is_restarted(mgr: McpManager) -> None:
    prepared = prepare(mgr, stdio(policy="allow"))
    first = server_pid(mgr)
    result, events = run_agent(prepared, [call("t__crash"), call("t__echo", text="still there?"), {"text": "The server crashed."}])
    crashed, after = completed(events)
    assert crashed.is_error and "stopped during this call" in crashed.result
    assert after.is_error and "not running" in after.result  # until the next run
    assert result.stop_reason == "complete" and result.text == "The server crashed."
    assert mgr.connections["t"].state == "failed"
    again = prepare(mgr, stdio(policy="allow"))
    assert again.notices == [] and mgr.connections["t"].state == "running"
    assert server_pid(mgr) != first
    assert not alive(first)


def test_a_hung_tool_times_out_and_the_server_keeps_working(mgr: McpManager) -> None:
    prepared = prepare(mgr, stdio(policy="allow", timeout=1))
    result, events = run_agent(prepared, [call("t__hang"), call("t__echo", text="next"), {"text": "ok"}])
    hung, echo = completed(events)
    assert hung.is_error and "did not answer within 1 s" in hung.result
    assert (echo.result, echo.is_error) == ("next", False)
    assert result.stop_reason == "complete"


def test_the_stop_button_cancels_an_mcp_call_and_the_server_stays(mgr: McpManager) -> None:
    """The cancel ends a call the server would never answer (latency: bench_mcp.py)."""
    prepared = prepare(mgr, stdio(policy="allow"))
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    result, events = run_agent(prepared, [call("t__hang"), {"text": "never"}], cancel=cancel)
    assert result.stop_reason == "cancelled"
    assert completed(events)[0].result == "Cancelled by the user."
    assert mgr.connections["t"].alive()  # the server itself is fine


def test_a_cancelled_call_that_returns_before_the_loop_notices_still_reads_cancelled(mgr: McpManager) -> None:
    """The tool may end before the loop sees the cancel; its result must not be an error text."""
    hang = ToolRegistry(prepare(mgr, stdio(policy="allow")).tools).get("t__hang")
    assert hang is not None
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    out = hang.call({}, cancel)
    assert (out.text, out.is_error) == ("Cancelled by the user.", True)


def test_a_server_that_does_not_start_is_one_line_backs_off_and_restart_retries_it_now(
    mgr: McpManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "later.py"
    config = parse_server("later", {"command": sys.executable, "args": [str(script)]})
    assert config is not None
    good = stdio()
    prepared = prepare(mgr, config, good)
    [notice] = prepared.notices
    assert notice.startswith("MCP server 'later' did not start:") and "\n" not in notice
    assert "later.py" in notice  # the server's own stderr says why
    assert "%agent mcp restart later" in notice
    assert {t.name.split("__")[0] for t in prepared.tools} == {"t"}  # the other server's tools remain
    script.write_text(Path(SERVER).read_text())
    backing_off = prepare(mgr, config, good)  # the next run neither waits for it nor retries it yet
    [notice] = backing_off.notices
    assert "left out of this run" in notice and not any(t.name == "later__add" for t in backing_off.tools)
    mgr.restart(config, None, 60.0)  # %agent mcp restart: now
    again = prepare(mgr, config, good)
    assert again.notices == []
    assert any(t.name == "later__add" for t in again.tools)


def test_a_failed_server_is_retried_in_the_background_once_its_pause_is_over(mgr: McpManager, tmp_path: Path) -> None:
    script = tmp_path / "later.py"
    config = parse_server("later", {"command": sys.executable, "args": [str(script)]})
    assert config is not None
    prepare(mgr, config)
    conn = mgr.connections["later"]
    assert conn.failures == 1 and conn.retry_at > time.monotonic()
    script.write_text(Path(SERVER).read_text())
    conn.retry_at = time.monotonic()  # the pause is over
    retried = prepare(mgr, config)
    assert not any(t.name == "later__add" for t in retried.tools)  # a retry is not waited for
    assert wait_until(lambda: conn.state == "running", 60)
    assert conn.failures == 0
    assert any(t.name == "later__add" for t in prepare(mgr, config).tools)


def test_a_missing_command_and_a_missing_variable_are_named(mgr: McpManager) -> None:
    missing = parse_server("nope", {"command": "hermes-no-such-command-xyz"})
    secret = parse_server("sec", {"command": sys.executable, "args": [SERVER], "env": {"K": "${HERMES_TEST_UNSET_VAR}"}})
    assert missing is not None and secret is not None
    notices = prepare(mgr, missing, secret).notices
    assert any("'nope'" in n and "hermes-no-such-command-xyz" in n for n in notices), notices
    assert any("'sec'" in n and "HERMES_TEST_UNSET_VAR is not set" in n for n in notices), notices


def test_environment_and_cwd_reach_the_server_and_relative_cwd_is_the_notebooks(mgr: McpManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    pidfile = tmp_path / "sub" / "pids.txt"
    monkeypatch.setenv("HERMES_TEST_PIDFILE_NAME", "pids.txt")
    config = stdio(env={"MCP_TEST_PIDFILE": "${HERMES_TEST_PIDFILE_NAME}"}, cwd="sub")
    prepare(mgr, config, folder=tmp_path)
    assert pidfile.read_text().split() == [str(server_pid(mgr))]


def test_shutdown_stops_every_server_even_one_blocked_in_a_call(mgr: McpManager) -> None:
    prepare(mgr, stdio("a"), stdio("b"))
    pids = [server_pid(mgr, "a"), server_pid(mgr, "b")]
    with pytest.raises(McpError, match="did not answer"):  # "a" now sleeps, deaf to its stdin
        mgr.connections["a"].call("block", {}, 0.5, None)
    mgr.shutdown()
    assert wait_until(lambda: not any(alive(p) for p in pids), 15), [p for p in pids if alive(p)]


def test_a_kernel_shutdown_request_stops_the_servers_before_the_kernel_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, bool]] = []
    pids: list[int] = []

    def do_shutdown(restart: bool) -> dict[str, Any]:
        seen.append((restart, alive(pids[0])))
        return {"status": "ok", "restart": restart}

    kernel = SimpleNamespace(do_shutdown=do_shutdown)
    monkeypatch.setattr("IPython.get_ipython", lambda: SimpleNamespace(kernel=kernel))
    mgr = McpManager()
    prepare(mgr, stdio())
    pids.append(server_pid(mgr))
    assert kernel.do_shutdown(True) == {"status": "ok", "restart": True}
    assert seen == [(True, False)]  # the server was already gone when ipykernel's own code ran


# -- streamable HTTP ---------------------------------------------------------------------


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    port_file = tmp_path / "mcp-port"
    proc = subprocess.Popen([sys.executable, SERVER, "--http", "0", str(port_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: port_file.exists() or proc.poll() is not None, 60), "the HTTP MCP server did not start"
        assert proc.poll() is None, "the HTTP MCP server exited"
        yield f"http://127.0.0.1:{int(port_file.read_text())}/mcp"
    finally:
        proc.kill()
        proc.wait(10)


def test_a_streamable_http_servers_tools_are_listed_and_called(mgr: McpManager, http_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERMES_TEST_TOKEN", "tok")
    config = parse_server("web", {"url": http_server, "headers": {"Authorization": "Bearer ${HERMES_TEST_TOKEN}"}, "policy": "allow"})
    assert config is not None
    prepared = prepare(mgr, config)
    assert prepared.notices == []
    assert {"web__add", "web__echo"} <= {t.name for t in prepared.tools}
    result, events = run_agent(prepared, [call("web__add", a=20, b=22), {"text": "42"}])
    [done] = completed(events)
    assert (done.result, done.is_error) == ("42", False)
    assert result.stop_reason == "complete"


def test_an_http_server_that_is_not_there_is_one_line(mgr: McpManager) -> None:
    with refused_port() as port:  # nothing listens there
        config = parse_server("gone", {"url": f"http://127.0.0.1:{port}/mcp"})
        assert config is not None
        [notice] = prepare(mgr, config).notices
    assert notice.startswith("MCP server 'gone' did not start:") and "\n" not in notice


# -- the launcher ------------------------------------------------------------------------


def test_the_launcher_kills_the_server_and_its_children_when_the_kernel_is_killed() -> None:
    """A stand-in kernel starts a server through the launcher as the SDK does (a new
    session); the server starts a child of its own. SIGKILL the stand-in: both go."""
    from hermes_nb.mcp.connection import LAUNCHER

    kernel_code = (
        "import os, subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-I', '-S', {LAUNCHER!r}, str(os.getpid()), "
        "'sh', '-c', 'sleep 300 & echo $$ $!; wait'], start_new_session=True, stdout=subprocess.PIPE, text=True)\n"
        "print(p.stdout.readline().strip(), flush=True)\n"
        "time.sleep(300)\n"
    )
    fake_kernel = subprocess.Popen([sys.executable, "-c", kernel_code], stdout=subprocess.PIPE, text=True)
    try:
        assert fake_kernel.stdout is not None
        server, child = (int(p) for p in fake_kernel.stdout.readline().split())
        assert alive(server) and alive(child)
        fake_kernel.kill()
        fake_kernel.wait(10)
        assert wait_until(lambda: not alive(server) and not alive(child), 5)
    finally:
        fake_kernel.kill()


# -- a server that never answers ---------------------------------------------------------

HUNG = ["-c", "import time; time.sleep(3600)"]  # a real process that never answers initialize


def test_a_hung_server_holds_a_run_only_for_the_wait_and_the_next_run_not_at_all(mgr: McpManager) -> None:
    hung = parse_server("hung", {"command": sys.executable, "args": HUNG})
    assert hung is not None
    servers = {"hung": hung, "t": stdio()}
    said: list[str] = []
    began = time.monotonic()
    first = mgr.prepare(servers, None, call_timeout=30.0, start_timeout=120.0, wait=20.0, progress=said.append)
    first_took = time.monotonic() - began
    assert first_took < 60  # the wait (20 s), not the start timeout (120 s)
    assert [n for n in first.notices if "'hung' is still starting" in n], first.notices
    assert any(t.name == "t__add" for t in first.tools)
    assert said and said[0].startswith("MCP: starting") and "hung" in said[0]
    began = time.monotonic()
    second = mgr.prepare(servers, None, call_timeout=30.0, start_timeout=120.0, wait=20.0)
    assert time.monotonic() - began < 15  # not waited for again
    assert [n for n in second.notices if "'hung' is still starting" in n]
    assert mgr.connections["hung"].state == "starting"
    mgr.shutdown()  # a start in progress gives up at once
    assert mgr.connections["hung"].state == "stopped"


def test_tools_whose_names_clash_once_made_valid_each_answer_under_their_own_name(mgr: McpManager) -> None:
    from hermes_nb.mcp.tools import assign_names

    prepared = prepare(mgr, stdio(policy="allow"))
    registry = ToolRegistry(prepared.tools)
    long = "look_up_a_record_in_the_archive_by_its_full_identifier_and_return_it"
    answers = {"lookup.user": "lookup.user", "lookup_user": "lookup_user", long + "_first": "first", long + "_second": "second"}
    wanted = list(answers)
    names = assign_names(("t", w) for w in wanted)
    assert len(set(names.values())) == 4
    for tool in wanted:
        found = registry.get(names[("t", tool)])
        assert found is not None, (tool, names)
        out = found.call({})
        assert (out.text, out.is_error) == (answers[tool], False)


def test_the_start_failure_quotes_npms_404_not_where_its_log_went(mgr: McpManager) -> None:
    """npm's own stderr for a package that is not in the registry (recorded from
    ``npx -y @modelcontextprotocol/server-does-not-exist-hermes``), replayed by a real command."""
    recorded = Path(__file__).with_name("mcp_fixtures") / "npx_e404_stderr.txt"
    config = parse_server("npx", {"command": "sh", "args": ["-c", f"cat '{recorded}' >&2; exit 1"]})
    assert config is not None
    [notice] = prepare(mgr, config).notices
    assert "npm error 404 Not Found - GET https://registry.npmjs.org/" in notice, notice
    assert "complete log" not in notice


# -- client capabilities -----------------------------------------------------------------


def test_progress_reaches_the_calls_live_output_while_it_runs(mgr: McpManager) -> None:
    from hermes_nb.agent.tools.capture import tapping

    prepared = prepare(mgr, stdio(policy="allow"))
    tool = {t.name: t for t in prepared.tools}["t__slow_with_progress"]
    heard: list[tuple[float, str, str]] = []
    with tapping(lambda stream, text: heard.append((time.monotonic(), stream, text))):
        out = tool.call({"steps": 3, "every": 0.4})
    ended = time.monotonic()
    assert (out.text, out.is_error) == ("finished", False)
    assert [text for _, _, text in heard] == [f"progress {i}/3: step {i}\n" for i in (1, 2, 3)]
    assert {stream for _, stream, _ in heard} == {"stdout"}
    assert heard[0][0] < ended - 0.5  # shown while the call ran, not after


def test_a_progress_line_is_one_short_line() -> None:
    from hermes_nb.mcp.connection import progress_line

    assert progress_line(2, None, None) == "progress 2\n"
    assert progress_line(0.5, 1, "half\nway\t<b>") == "progress 0.5/1: half way <b>\n"
    assert progress_line("x", 3, "y" * 500) == "progress ?/3: " + "y" * 200 + "\n"


def test_progress_keeps_a_long_call_alive_past_its_timeout_and_silence_does_not(mgr: McpManager) -> None:
    prepared = prepare(mgr, stdio(policy="allow", timeout=1.5))
    result, events = run_agent(prepared, [
        call("t__slow_with_progress", steps=6, every=0.5),  # 3 s in all, a word every 0.5 s
        call("t__slow", steps=6, every=0.5),  # 3 s in silence
        {"text": "ok"},
    ])
    talking, silent = completed(events)
    assert (talking.result, talking.is_error) == ("finished", False)
    assert silent.is_error and "did not answer within 1.5 s" in silent.result
