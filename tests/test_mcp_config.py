"""MCP configuration (files, setting, ${VAR}), tool names and result conversion: no server needed."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from hermes_nb.agent.images import ToolImage
from hermes_nb.errors import McpError
from hermes_nb.mcp.results import to_tool_output
from hermes_nb.mcp.settings import config_paths, expand, load_servers, parse_server
from hermes_nb.mcp.tools import assign_names, tool_name


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's Jupyter config folder (jupyter_core honours JUPYTER_CONFIG_DIR)."""
    folder = tmp_path / "jupyter-config"
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(folder))
    return folder


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")


def test_the_files_are_the_jupyter_config_folders_then_the_notebooks(user_dir: Path, tmp_path: Path) -> None:
    assert config_paths(tmp_path / "nb") == [
        user_dir / "hermes_nb" / "mcp.json",
        tmp_path / "nb" / ".hermes_nb" / "mcp.json",
    ]


def test_the_users_folder_follows_the_environment(user_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_paths(None) == [user_dir / "hermes_nb" / "mcp.json"]
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "elsewhere"))
    assert config_paths(None) == [tmp_path / "elsewhere" / "hermes_nb" / "mcp.json"]
    monkeypatch.delenv("JUPYTER_CONFIG_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_paths(None) == [(tmp_path / "home").resolve() / ".jupyter" / "hermes_nb" / "mcp.json"]


def test_a_folder_never_replaces_the_users_servers_and_the_setting_wins_over_the_users_file(
    user_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "nb"
    write(user_dir / "hermes_nb" / "mcp.json", {"mcpServers": {
        "a": {"command": "user-a"}, "b": {"command": "user-b"}, "c": {"command": "user-c"}}})
    write(folder / ".hermes_nb" / "mcp.json", {"mcpServers": {
        "b": {"command": "nb-b", "args": ["x"]}, "d": {"url": "http://127.0.0.1:9/mcp"},
        "s": {"command": "nb-s"}}})
    servers, problems = load_servers(folder, {"c": {"command": "setting-c"}, "s": {"command": "setting-s"}})
    assert {n: s.target() for n, s in servers.items()} == {
        "a": "user-a", "b": "user-b", "c": "setting-c", "s": "setting-s", "d": "http://127.0.0.1:9/mcp"}
    [line] = problems
    assert "ignoring b, s" in line and "never replaces your servers" in line
    assert [n for n, s in servers.items() if s.from_folder] == ["d"]
    assert servers["d"].source.endswith(".hermes_nb/mcp.json")
    assert {servers["a"].scope, servers["c"].scope} == {"user", "setting"}


def test_a_disabled_entry_hides_a_server_from_a_file_read_before(user_dir: Path, tmp_path: Path) -> None:
    write(user_dir / "hermes_nb" / "mcp.json", {"mcpServers": {"a": {"command": "x"}}})
    servers, _ = load_servers(tmp_path, {"a": {"disabled": True}})
    assert servers == {}


def test_a_broken_file_or_entry_is_one_line_and_the_rest_still_loads(user_dir: Path, tmp_path: Path) -> None:
    write(user_dir / "hermes_nb" / "mcp.json", "{not json")
    write(tmp_path / ".hermes_nb" / "mcp.json", {"mcpServers": {
        "good": {"command": "ok"},
        "both": {"command": "x", "url": "http://h/mcp"},
        "old": {"url": "http://h/sse", "type": "sse"},
        "typo": {"command": "x", "policy": "alow"},
        "bad name!": {"command": "x"},
    }})
    servers, problems = load_servers(tmp_path)
    assert list(servers) == ["good"]
    assert len(problems) == 5 and all("\n" not in p for p in problems)
    text = "\n".join(problems)
    for expected in ("cannot read", "either 'command'", "SSE transport", "unknown policy 'alow'", "'bad name!'"):
        assert expected in text


def test_entries_keep_policies_timeout_and_unknown_keys() -> None:
    s = parse_server("db", {
        "command": "db-server", "args": ["--ro"], "env": {"TOKEN": "${DB_TOKEN}"}, "cwd": "sub",
        "policy": "allow", "tool_policies": {"drop": "deny"}, "timeout": 5, "autoApprove": [],
    })
    assert s is not None
    assert (s.transport, s.policy, dict(s.tool_policies), s.timeout) == ("stdio", "allow", {"drop": "deny"}, 5.0)
    assert s.env == (("TOKEN", "${DB_TOKEN}"),)  # expanded only when the server starts
    assert s.extra == ("autoApprove",)
    with pytest.raises(McpError, match="timeout"):
        parse_server("db", {"command": "x", "timeout": -1})


def test_variables_are_expanded_and_a_missing_one_is_named() -> None:
    env = {"TOKEN": "s3cret", "HOST": "h"}
    assert expand("Bearer ${TOKEN} on ${HOST}, $HOME stays", env) == "Bearer s3cret on h, $HOME stays"
    with pytest.raises(McpError, match="GITHUB_TOKEN is not set"):
        expand("${GITHUB_TOKEN}", env)


@pytest.mark.parametrize(
    ("server", "tool", "expected"),
    [("units", "convert", "units__convert"), ("my.srv", "get file", "my_srv__get_file_"), ("s", "x" * 80, "s__" + "x" * 52 + "_")],
)
def test_tool_names_are_server__tool_or_a_valid_name_with_a_hash(server: str, tool: str, expected: str) -> None:
    name = tool_name(server, tool)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name)
    assert name == expected if expected.endswith(tool[-3:]) else name.startswith(expected) and len(name) == len(expected) + 8
    assert tool_name(server, tool) == name  # stable


def test_names_that_would_clash_stay_distinct_and_stable() -> None:
    long_a, long_b = "q" * 70 + "a", "q" * 70 + "b"
    pairs = [("s", "get.user"), ("s", "get_user"), ("s", long_a), ("s", long_b), ("a", "b__c"), ("a__b", "c")]
    names = assign_names(pairs)
    assert len(set(names.values())) == len(pairs)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", n) for n in names.values())
    assert names[("s", "get_user")] == "s__get_user" and names[("s", "get.user")].startswith("s__get_user_")
    assert names[("a", "b__c")] == "a__b__c" and names[("a__b", "c")].startswith("a__b__c_")
    # another tool coming or going does not rename the others
    fewer = assign_names(pairs[:1] + pairs[2:3])
    assert fewer[("s", "get.user")] == names[("s", "get.user")] and fewer[("s", long_a)] == names[("s", long_a)]


def test_text_and_images_become_the_models_text_and_the_cards_outputs() -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    result = NS(content=[NS(type="text", text="Here:"), NS(type="image", mime_type="image/png", data=png)],
                structured_content=None, is_error=False)
    out = to_tool_output(result)
    assert out.text.startswith("Here:\n[image image/png, 72 bytes]")  # estimated from the base64
    assert out.outputs == ({"data": {"image/png": png, "text/plain": "[image/png image, 70 bytes]"}, "metadata": {}},)
    assert not out.is_error
    assert out.images == (ToolImage(base64.b64decode(png), "image/png"),)  # for vision models


def test_an_error_result_is_a_tool_error() -> None:
    out = to_tool_output(NS(content=[NS(type="text", text="no such table")], is_error=True))
    assert out.is_error and out.text == "Error: no such table"


def test_structured_content_and_resources_are_given_as_text() -> None:
    assert to_tool_output(NS(content=[], structured_content={"n": 1})).text == '{"n": 1}'
    text_res = NS(type="resource", resource=NS(uri="file:///a.txt", text="hello"))
    blob_res = NS(type="resource", resource=NS(uri="file:///a.bin", mime_type="application/zip", blob="AAAA"))
    link = NS(type="resource_link", uri="file:///b", name="b")
    out = to_tool_output(NS(content=[text_res, blob_res, link]))
    assert out.text == "hello\n[resource file:///a.bin, application/zip, 3 bytes]\n[resource file:///b: b]"
    assert to_tool_output(NS(content=[])).text == "(no output)"


def test_a_huge_folder_file_is_one_line_and_not_read_whole(user_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / ".hermes_nb" / "mcp.json"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as f:
        f.write(b'{"mcpServers": {"x": {"command": "ok", "description": "')
        f.write(b"a" * (2 * 1024 * 1024))
        f.write(b'"}}}')
    servers, [problem] = load_servers(tmp_path)
    assert servers == {} and "larger than 1024 KB" in problem


def test_a_servers_form_is_asked_field_by_field_and_a_bad_value_declines_it() -> None:
    from hermes_nb.mcp.elicit import ask_form

    schema = {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "age": {"type": "integer"}, "ok": {"type": "boolean"},
        "pet": {"type": "string", "enum": ["cat", "dog"]}, "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
        "line": {"type": "string", "default": "It was a dark night."}}}

    def answers(*given: str):  # type: ignore[no-untyped-def]
        queue = list(given)
        return lambda prompt: queue.pop(0)

    assert ask_form("s", "Who?", schema, answers("y", "Ada", "36", "yes", "cat", "a, b", "")) == (
        "accept", {"name": "Ada", "age": 36, "ok": True, "pet": "cat", "tags": ["a", "b"], "line": "It was a dark night."})
    assert ask_form("s", "Who?", schema, answers("n")) == ("decline", None)
    assert ask_form("s", "Who?", schema, answers("y", "")) == ("decline", None)  # name is required
    assert ask_form("s", "Who?", schema, answers("y", "Ada", "old")) == ("decline", None)
    assert ask_form("s", "Who?", schema, answers("y", "Ada", "", "", "cow")) == ("decline", None)
