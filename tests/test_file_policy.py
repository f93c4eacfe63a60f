"""File tools work unasked inside the notebook's folder and ask for anything else."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hermes_nb.agent.toolrun import ToolRunner
from hermes_nb.agent.tools.builtin import builtin_tools, is_inside


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``<tmp>/project`` (the notebook's folder, also the working directory) and
    ``<tmp>/secrets/id_rsa`` outside it, with symlinks inside pointing out."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "sales.csv").write_text("month,revenue\nMarch,10\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "id_rsa").write_text("-----BEGIN PRIVATE KEY-----\n")
    os.symlink(secrets / "id_rsa", project / "innocent.txt")
    os.symlink(secrets, project / "linked_dir")
    monkeypatch.chdir(project)
    return project


def runner(root: Path, answers: list[bool | None] | None = None, policies: dict[str, str] | None = None) -> tuple[ToolRunner, list[str]]:
    asked: list[str] = []

    def approve(name: str, arguments: dict[str, Any]) -> bool | None:
        asked.append(f"{name} {arguments.get('path')}")
        return answers.pop(0) if answers else None

    return ToolRunner(builtin_tools(root=root), policies or {}, approve, None, 20_000), asked


def call(r: ToolRunner, name: str, **arguments: Any) -> str:
    return r.run(name, json.dumps(arguments), threading.Event()).text


def test_inside_the_folder_nothing_is_asked(tree: Path) -> None:
    r, asked = runner(tree)
    assert "March" in call(r, "read_file", path="data/sales.csv")
    assert "sales.csv" in call(r, "list_files", path="data")
    assert "data/" in call(r, "list_files")
    assert "Wrote" in call(r, "write_file", path="out/report.md", content="# Report")
    assert (tree / "out" / "report.md").read_text() == "# Report"
    assert asked == []


@pytest.mark.parametrize(
    "name,path",
    [
        ("read_file", "../secrets/id_rsa"),
        ("read_file", "innocent.txt"),  # a symlink inside pointing out
        ("read_file", "linked_dir/id_rsa"),
        ("list_files", "linked_dir"),
        ("list_files", ".."),
        ("list_files", "/"),
        ("read_file", "~/.ssh/id_rsa"),
        ("write_file", "../secrets/authorized_keys"),
        ("write_file", "linked_dir/new.txt"),
        ("write_file", ".hermes_nb/sessions/x.json"),
    ],
)
def test_outside_the_folder_the_user_is_asked(tree: Path, name: str, path: str) -> None:
    r, asked = runner(tree)
    args: dict[str, Any] = {"path": path} if name != "write_file" else {"path": path, "content": "x"}
    result = call(r, name, **args)
    assert asked == [f"{name} {path}"]
    assert result.startswith("Not run:")  # nobody answered: refused
    assert "PRIVATE KEY" not in result
    assert not (tree.parent / "secrets" / "authorized_keys").exists()
    assert not (tree.parent / "secrets" / "new.txt").exists()


def test_a_yes_lets_an_outside_read_run_and_a_policy_overrides_the_default(tree: Path) -> None:
    r, asked = runner(tree, answers=[True])
    assert "PRIVATE KEY" in call(r, "read_file", path="../secrets/id_rsa")
    r, asked = runner(tree, policies={"read_file": "allow"})
    assert "PRIVATE KEY" in call(r, "read_file", path="innocent.txt") and asked == []
    r, asked = runner(tree, policies={"read_file": "ask"})
    assert call(r, "read_file", path="data/sales.csv").startswith("Not run:") and asked


def test_the_folder_is_the_notebooks_not_the_working_directory(tree: Path, tmp_path: Path) -> None:
    r, asked = runner(tree / "data")
    assert "March" in call(r, "read_file", path="data/sales.csv") and asked == []
    assert call(r, "list_files", path=".").startswith("Not run:")  # the parent of the root


def test_is_inside_resolves_before_comparing(tree: Path) -> None:
    assert is_inside("data/../data/sales.csv", tree)
    assert not is_inside(str(tree) + "-other/file", tree)  # a sibling sharing the prefix
    assert not is_inside("bad\0path", tree)
    assert not is_inside(42, tree)


NOTEBOOK = json.dumps({"cells": [{"cell_type": "code", "source": "secret_plan = 1", "outputs": []}], "metadata": {}})


def notebook_runner(root: Path, answers: list[bool | None] | None = None) -> tuple[ToolRunner, list[str]]:
    from hermes_nb.kernel.notebook_tools import notebook_tools

    asked: list[str] = []

    def approve(name: str, arguments: dict[str, Any]) -> bool | None:
        asked.append(f"{name} {arguments.get('path')}")
        return answers.pop(0) if answers else None

    return ToolRunner(notebook_tools(None, environ={}, root=root), {}, approve, None, 20_000), asked


@pytest.mark.parametrize("path", ["../secrets/other.ipynb", "linked_dir/other.ipynb", "outside_link.ipynb"])
def test_read_notebook_outside_the_folder_asks_like_the_file_tools(tree: Path, path: str) -> None:
    (tree.parent / "secrets" / "other.ipynb").write_text(NOTEBOOK)
    os.symlink(tree.parent / "secrets" / "other.ipynb", tree / "outside_link.ipynb")
    (tree / "mine.ipynb").write_text(NOTEBOOK)
    r, asked = notebook_runner(tree)
    assert "secret_plan" in call(r, "read_notebook", path="mine.ipynb") and asked == []
    refused = call(r, "read_notebook", path=path)
    assert asked == [f"read_notebook {path}"] and refused.startswith("Not run:") and "secret_plan" not in refused
    r, asked = notebook_runner(tree, answers=[True])
    assert "secret_plan" in call(r, "read_notebook", path=path)  # a yes lets it run


def test_read_notebook_refuses_a_fifo_or_a_device_at_once(tree: Path) -> None:
    os.mkfifo(tree / "hang.ipynb")
    os.symlink("/dev/zero", tree / "zero.ipynb")
    r, asked = notebook_runner(tree, answers=[True])
    started = time.monotonic()
    fifo = call(r, "read_notebook", path="hang.ipynb")
    assert "not a regular file" in fifo and time.monotonic() - started < 5
    zero = call(r, "read_notebook", path="zero.ipynb")  # outside the folder: asked, then refused
    assert "not a regular file" in zero and asked == ["read_notebook zero.ipynb"]
