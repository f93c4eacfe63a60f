"""Keys and URL passwords never reach logs, error lines, session files or exports."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from sse_server import ScriptedServer, error_reply
from test_magics_helpers import Notebook

from hermes_nb.agent.loop import Agent
from hermes_nb.agent.providers.openai_compat import Endpoint, OpenAICompatProvider
from hermes_nb.agent.providers.retry import RetryPolicy
from hermes_nb.agent.toolrun import ToolRunner
from hermes_nb.agent.tools.builtin import builtin_tools
from hermes_nb.errors import ProviderUnavailableError
from hermes_nb.redact import redact, redact_url

KEY = "sk-proj-Zx81TopSecretValue0123456789"
PASSWORD = "hunter2-url-password"


def test_redact_removes_url_passwords_env_keys_and_key_shapes() -> None:
    env = {"MY_SERVICE_API_KEY": "abcd-efgh-1234-5678", "HOME": "/home/me", "SHORT_TOKEN": "abc"}
    text = redact(
        f"at https://me:{PASSWORD}@host/v1 with abcd-efgh-1234-5678 and {KEY}; "
        "Authorization: Bearer eyJhbGciOi.payload.sig; x-api-key: 0123456789abcdef; /home/me abc",
        environ=env,
    )
    assert PASSWORD not in text and "abcd-efgh-1234-5678" not in text and KEY not in text
    assert "eyJhbGciOi" not in text and "0123456789abcdef" not in text
    assert "https://me:***@host/v1" in text and "/home/me abc" in text  # the rest is kept
    assert redact_url("http://host:8000/v1") == "http://host:8000/v1"


def test_a_key_echoed_by_the_server_stays_out_of_debug_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with ScriptedServer([error_reply(401, f"Incorrect API key provided: {KEY}. Check it.")]) as server:
        provider = OpenAICompatProvider(
            "openai:m", "m", Endpoint("OpenAI", server.url), retry=RetryPolicy(retries=0)
        )
        with caplog.at_level(logging.DEBUG):
            result = Agent(provider).run([], "hi", lambda e: None, threading.Event())
    assert result.stop_reason == "error"
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logged = "\n".join(handler.format(r) for r in caplog.records)
    assert "agent run failed" in logged and "Traceback" in logged  # the debug record is there
    assert KEY not in logged and KEY[8:20] not in logged
    assert KEY not in caplog.text


def test_a_tool_printing_a_key_gives_the_model_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    runner = ToolRunner(builtin_tools(root=tmp_path), {}, None, None, 20_000)
    code = "import os; print(os.environ['OPENAI_API_KEY']); print('api_key=os.environ[\"OPENAI_API_KEY\"]')"
    out = runner.run("python", json.dumps({"code": code}), threading.Event())
    assert KEY not in out.text and "***" in out.text
    assert 'api_key=os.environ["OPENAI_API_KEY"]' in out.text  # code is not mangled


def test_a_url_password_stays_out_of_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedServer() as server:
        port = server.port
    provider = OpenAICompatProvider(
        "compat:m", "m", Endpoint("The server", f"http://me:{PASSWORD}@127.0.0.1:{port}/v1", key_required=False),
        retry=RetryPolicy(retries=0),
    )
    with pytest.raises(ProviderUnavailableError) as info:
        list(provider.stream([{"role": "user", "content": "hi"}], [], threading.Event()))
    assert PASSWORD not in str(info.value) and "127.0.0.1" in str(info.value)


def test_a_url_password_stays_out_of_the_cell_the_session_and_exports(
    nb: Notebook, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HERMES_NB_MAX_RETRIES", "0")
    with ScriptedServer() as server:
        port = server.port
    nb.run(f'%config AgentMagics.base_url = "http://me:{PASSWORD}@127.0.0.1:{port}/v1"').ok()
    nb.run('%config AgentMagics.model = "compat:m"').ok()
    nb.run("%config AgentMagics.auto_title = False").ok()
    cell = nb.run("%%agent\nHello?")
    assert "refused the connection" in cell.out + cell.err
    assert PASSWORD not in cell.out + cell.err
    saved = (nb.sessions_dir / f"{nb.current}.json").read_text(encoding="utf-8")
    assert "refused the connection" in saved and PASSWORD not in saved
    for fmt in ("md", "json"):
        out = tmp_path / f"export.{fmt}"
        nb.run(f"%agent export --format {fmt} --output {out}").ok()
        assert PASSWORD not in out.read_text(encoding="utf-8")
    assert PASSWORD not in nb.run("%agent status").out + nb.run("%agent history").out


