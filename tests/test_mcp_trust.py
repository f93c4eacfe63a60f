"""Approval of a notebook folder's MCP servers: where it is kept, what it is tied to."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hermes_nb.mcp.settings import load_servers
from hermes_nb.mcp.trust import approve, is_trusted, revoke, trust_path, waiting


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "jupyter-config"
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(folder))
    return folder


def write_folder(folder: Path, servers: dict[str, object]) -> Path:
    path = folder / ".hermes_nb" / "mcp.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return path


def test_approvals_live_next_to_the_users_mcp_json_and_follow_the_environment(
    user_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert trust_path() == user_dir / "hermes_nb" / "mcp_trust.json"
    monkeypatch.delenv("JUPYTER_CONFIG_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert trust_path() == (tmp_path / "home").resolve() / ".jupyter" / "hermes_nb" / "mcp_trust.json"


def test_a_folder_server_waits_until_approved_and_the_approval_is_stored_outside_the_folder(
    user_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "clone"
    write_folder(folder, {"x": {"command": "sh", "args": ["-c", "touch MARKER"]}})
    servers, _ = load_servers(folder)
    assert waiting(servers, folder) == ["x"]
    path = approve([servers["x"]], folder)
    assert path == user_dir / "hermes_nb" / "mcp_trust.json"
    assert not str(path).startswith(str(folder))
    assert waiting(load_servers(folder)[0], folder) == []
    stored = json.loads(path.read_text())["folders"]
    assert list(stored) == [str(folder.resolve())]
    assert revoke(folder) == ["x"]
    assert waiting(load_servers(folder)[0], folder) == ["x"]


def test_a_changed_entry_asks_again_and_an_unchanged_one_stays_approved(user_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clone"
    write_folder(folder, {"x": {"command": "ok"}, "y": {"url": "http://127.0.0.1:9/mcp"}})
    servers, _ = load_servers(folder)
    approve(servers.values(), folder)
    write_folder(folder, {"x": {"command": "ok", "env": {"K": "${OPENAI_API_KEY}"}}, "y": {"url": "http://127.0.0.1:9/mcp"}})
    assert waiting(load_servers(folder)[0], folder) == ["x"]


def test_the_same_file_in_another_folder_is_not_approved(user_dir: Path, tmp_path: Path) -> None:
    first = tmp_path / "one"
    write_folder(first, {"x": {"command": "ok"}})
    approve(load_servers(first)[0].values(), first)
    second = tmp_path / "two"
    shutil.copytree(first, second)
    assert waiting(load_servers(second)[0], second) == ["x"]
    assert waiting(load_servers(first)[0], first) == []


def test_a_folder_cannot_approve_itself_and_a_broken_store_approves_nothing(user_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clone"
    write_folder(folder, {"x": {"command": "ok"}})
    (folder / ".hermes_nb" / "mcp_trust.json").write_text(json.dumps(
        {"folders": {str(folder.resolve()): {"x": load_servers(folder)[0]["x"].digest}}}))
    assert waiting(load_servers(folder)[0], folder) == ["x"]
    store = user_dir / "hermes_nb" / "mcp_trust.json"
    store.parent.mkdir(parents=True)
    store.write_text("{broken")
    assert waiting(load_servers(folder)[0], folder) == ["x"]


def test_the_users_own_servers_need_no_approval(user_dir: Path, tmp_path: Path) -> None:
    path = user_dir / "hermes_nb" / "mcp.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"mcpServers": {"mine": {"command": "ok"}}}))
    servers, _ = load_servers(tmp_path, {"set": {"command": "ok"}})
    assert waiting(servers, tmp_path) == []
    assert all(is_trusted(c, tmp_path) for c in servers.values())
