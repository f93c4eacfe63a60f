"""Keys and URL passwords never reach logs, error lines, session files or exports."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from notebook_shell import Notebook
from sse_server import ScriptedServer, error_reply

from hermes_nb.agent.loop import Agent
from hermes_nb.agent.providers.openai_compat import Endpoint, OpenAICompatProvider
from hermes_nb.agent.providers.retry import RetryPolicy
from hermes_nb.agent.toolrun import ToolRunner
from hermes_nb.agent.tools.builtin import builtin_tools
from hermes_nb.errors import ProviderUnavailableError
from hermes_nb.safety.redact import redact, redact_url

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




SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
    "STRIPE_SECRET_KEY": "rk_live_51Habcdefghijklmnop",
    "GITHUB_PAT": "ghp_abcdefghijklmnopqrstuvwx0123",
    "DB_CREDENTIALS": "user:correct-horse-battery",
    "MY_PASSWORD_FILE_CONTENT": "swordfish-2024-long",
}


def test_every_secret_named_variable_and_no_path_like_name_is_masked() -> None:
    env = {**SECRETS, "PATH": "/usr/local/bin:/usr/bin", "PATTERN": "some-long-pattern", "PYTHONPATH": "/work/lib/x"}
    text = redact(" ".join(env.values()), environ=env, headers=False)
    assert all(value not in text for value in SECRETS.values()), text
    assert "/usr/local/bin:/usr/bin" in text and "some-long-pattern" in text and "/work/lib/x" in text


@pytest.mark.parametrize("name", ["token", "key", "access_token", "sig", "api_key", "apikey", "password",
                                  "secret", "signature", "client_secret", "X-Amz-Signature"])
def test_credential_query_parameters_are_masked(name: str) -> None:
    url = f"see https://host.example/p.png?d=1&{name}=AbCdEf0123456789&page=2 now"
    text = redact(url, environ={}, headers=False)
    assert "AbCdEf0123456789" not in text
    assert f"{name}=***" in text and "d=1" in text and "page=2 now" in text


def test_secret_names_are_variables_containing_a_secret_word_or_the_part_pat() -> None:
    from hermes_nb.safety.redact import is_secret_name

    for name in ("AWS_SECRET_ACCESS_KEY", "STRIPE_SECRET_KEY", "GITHUB_PAT", "GH_TOKEN", "db_credential", "pat"):
        assert is_secret_name(name), name
    for name in ("PATH", "PATTERN", "PYTHONPATH", "HOME", "SPATIAL", "COMPAT_MODE"):
        assert not is_secret_name(name), name


def test_secret_named_variables_stay_out_of_the_context_tool_results_session_and_export(
    nb: Notebook, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    nb.run("import os\nconf = {'aws': os.environ['AWS_SECRET_ACCESS_KEY'], 'url': 'https://h/x?token=AbCdEf0123456789'}").ok()
    nb.run("GITHUB_PAT = os.environ['GITHUB_PAT']").ok()
    monkeypatch.setenv("CALLBACK_URL", "https://h/y?access_token=ZyXwVu9876543210&x=1")
    code = "import os\nfor k in %r: print(k, os.environ[k])\nprint(os.environ['CALLBACK_URL'])" % [*SECRETS, "CALLBACK_URL"]
    nb.use_script({"tool_calls": [{"name": "python", "arguments": {"code": code}}]}, "Done.")
    nb.run("%config AgentMagics.auto_title = False").ok()
    cell = nb.run("%%agent\nLook at @conf and @GITHUB_PAT.").ok()
    saved = (nb.sessions_dir / f"{nb.current}.json").read_text(encoding="utf-8")
    assert "CALLBACK_URL https://h/y?access_token=***&x=1" in saved and "token=***" in saved  # the run did happen
    out = tmp_path / "export.md"
    nb.run(f"%agent export --format md --output {out}").ok()
    for where in (cell.out + cell.err, saved, out.read_text(encoding="utf-8"), nb.run("%agent history").out):
        assert all(value not in where for value in SECRETS.values())
        assert "AbCdEf0123456789" not in where and "ZyXwVu9876543210" not in where


def test_a_secret_assignment_or_token_shape_in_a_notice_is_masked() -> None:
    line = "server failed: GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyz1 DB_PASSWORD: 'hunter22long' PATH=/usr/bin:/bin"
    text = redact(line, environ={})
    assert "ghp_0123" not in text and "hunter22long" not in text
    assert "GITHUB_TOKEN=***" in text and "PATH=/usr/bin:/bin" in text
    assert "AKIA" not in redact("id AKIAIOSFODNN7EXAMPLE used", environ={}, headers=False)
    code = 'client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])'
    assert redact(code, environ={}, headers=False) == code  # in a tool result, code stays as it is
