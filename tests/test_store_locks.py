"""Agent locks (in-process), file locks (cross-process) and finding the notebook."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import filelock
import pytest

from hermes_nb import config
from hermes_nb.config import (
    SESSION_AGENT_LOCKS,
    SESSION_AGENT_LOCKS_LOCK,
    _get_session_agent_lock,
    alias_session_lock,
    find_notebook,
    run_lock,
    session_dir_for,
    session_file_lock,
)

# --------------------------------------------------------------------------- agent locks


def test_same_lock_per_id_and_non_reentrant() -> None:
    a = _get_session_agent_lock("lock-a")
    assert _get_session_agent_lock("lock-a") is a
    assert _get_session_agent_lock("lock-b") is not a
    with a:
        assert a.locked()
        assert not a.acquire(blocking=False)  # not reentrant
        assert not a.acquire(timeout=0.01)
    assert not a.locked()
    assert a.acquire(blocking=False)
    a.release()
    with pytest.raises(RuntimeError):
        a.release()


def test_lock_excludes_other_threads() -> None:
    lock = _get_session_agent_lock("lock-threads")
    counter = 0

    def bump() -> None:
        nonlocal counter
        for _ in range(2000):
            with _get_session_agent_lock("lock-threads"):
                value = counter
                counter = value + 1

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter == 8000
    assert not lock.locked()


def test_aliasing_by_assignment_and_helper() -> None:
    lock = _get_session_agent_lock("old-id")
    with SESSION_AGENT_LOCKS_LOCK:
        SESSION_AGENT_LOCKS["new-id"] = lock
        SESSION_AGENT_LOCKS.pop("old-id")
    assert _get_session_agent_lock("new-id") is lock
    # the old id was already gone: aliasing still works
    SESSION_AGENT_LOCKS["newer-id"] = lock
    assert _get_session_agent_lock("newer-id") is lock

    other = _get_session_agent_lock("before")
    assert alias_session_lock("before", "after") is other
    assert _get_session_agent_lock("after") is other
    assert "before" not in SESSION_AGENT_LOCKS
    fresh = alias_session_lock("never-seen", "target")
    assert _get_session_agent_lock("target") is fresh


def test_unheld_locks_are_freed() -> None:
    gc.collect()
    before = len(SESSION_AGENT_LOCKS)
    for i in range(1000):
        _get_session_agent_lock(f"transient-{i}")
    gc.collect()
    assert len(SESSION_AGENT_LOCKS) <= before


def test_a_held_lock_survives_without_references() -> None:
    _get_session_agent_lock("held-only").acquire()
    gc.collect()
    again = _get_session_agent_lock("held-only")
    assert again.locked()
    assert not again.acquire(blocking=False)
    again.release()
    del again
    gc.collect()
    assert "held-only" not in SESSION_AGENT_LOCKS


# --------------------------------------------------------------------------- file locks


def test_run_lock_excludes_in_process(session_dir: Path) -> None:
    first = run_lock("runner")
    first.acquire(timeout=0)
    try:
        with pytest.raises(filelock.Timeout):
            run_lock("runner").acquire(timeout=0)
        # from another thread too
        failed: list[bool] = []

        def other() -> None:
            try:
                run_lock("runner").acquire(timeout=0)
            except filelock.Timeout:
                failed.append(True)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert failed == [True]
    finally:
        first.release()
    second = run_lock("runner")
    second.acquire(timeout=0)
    second.release()
    assert (session_dir / "runner.run.lock").exists()


def test_run_lock_released_from_another_thread(session_dir: Path) -> None:
    lock = run_lock("handoff")
    lock.acquire(timeout=0)
    t = threading.Thread(target=lock.release)
    t.start()
    t.join()
    run_lock("handoff").acquire(timeout=0)


def test_session_file_lock_excludes_in_process(session_dir: Path) -> None:
    with session_file_lock("sfl"):
        with pytest.raises(filelock.Timeout):
            session_file_lock("sfl", timeout=0.05).acquire()
    with session_file_lock("sfl", timeout=0.05):
        pass


def test_file_locks_validate_ids(session_dir: Path) -> None:
    with pytest.raises(ValueError):
        run_lock("../x")
    with pytest.raises(ValueError):
        session_file_lock("a/b")


HOLDER = """
import sys, time
from hermes_nb import models, config
models.set_session_dir(sys.argv[1])
lock = config.run_lock(sys.argv[2])
lock.acquire(timeout=0)
print("held", flush=True)
time.sleep(60)
"""


def test_run_lock_across_processes_and_released_by_death(session_dir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(session_dir), "xproc"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(filelock.Timeout):
            run_lock("xproc").acquire(timeout=0)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    mine = run_lock("xproc")  # the OS released the dead owner's lock
    mine.acquire(timeout=0)
    mine.release()


# --------------------------------------------------------------------------- notebook


def test_vscode_variable_wins(tmp_path: Path) -> None:
    nb = tmp_path / "proj" / "a.ipynb"
    loc = find_notebook(
        {"__vsc_ipynb_file__": str(nb), "__session__": "other.ipynb"},
        {"JPY_SESSION_NAME": "x.ipynb"},
        cwd=tmp_path,
    )
    assert (loc.path, loc.how, loc.warning, loc.name) == (nb, "vscode", None, "a.ipynb")
    assert loc.session_dir == tmp_path / "proj" / ".hermes_nb" / "sessions"


def test_session_variable_relative_to_server_root(tmp_path: Path) -> None:
    (tmp_path / "b.ipynb").write_text("{}")
    loc = find_notebook({"__session__": "some/dir/b.ipynb"}, {}, cwd=tmp_path)
    assert loc.path == tmp_path / "b.ipynb" and loc.how == "session"
    assert loc.session_dir == session_dir_for(tmp_path)


def test_session_variable_relative_to_cwd(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.ipynb").write_text("{}")
    loc = find_notebook({"__session__": "sub/c.ipynb"}, {}, cwd=tmp_path)
    assert loc.path == (tmp_path / "sub" / "c.ipynb").resolve()
    assert loc.session_dir == session_dir_for((tmp_path / "sub").resolve())


def test_env_variable_then_configured_then_cwd(tmp_path: Path) -> None:
    loc = find_notebook({}, {"JPY_SESSION_NAME": str(tmp_path / "d.ipynb")}, cwd=tmp_path)
    assert loc.how == "env" and loc.name == "d.ipynb"

    conf = tmp_path / "mysessions"
    loc = find_notebook({}, {}, configured_dir=conf, cwd=tmp_path)
    assert (loc.path, loc.how, loc.warning, loc.session_dir) == (None, "configured", None, conf)
    # a configured folder wins for storage, the notebook name is still found
    loc = find_notebook({"__session__": "e.ipynb"}, {}, configured_dir=conf, cwd=tmp_path)
    assert loc.session_dir == conf and loc.name == "e.ipynb" and loc.how == "session"

    loc = find_notebook({}, {}, cwd=tmp_path)
    assert loc.how == "cwd" and loc.path is None
    assert loc.session_dir == tmp_path / ".hermes_nb" / "sessions"
    assert loc.warning is not None and "\n" not in loc.warning
    assert str(loc.session_dir) in loc.warning


def test_find_notebook_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "env.ipynb"))
    monkeypatch.chdir(tmp_path)
    loc = config.find_notebook({})
    assert loc.how == "env" and loc.name == "env.ipynb"


def test_config_is_import_light() -> None:
    code = "import sys, hermes_nb.config; print(sorted(m for m in ('filelock', 'hermes_nb.models', 'json') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


OS_HOLDER = """
import sys, time
from pathlib import Path
from hermes_nb import config
with config.os_file_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_os_file_lock_excludes_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "x.save.lock"
    proc = subprocess.Popen([sys.executable, "-c", OS_HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(filelock.Timeout):
            with config.os_file_lock(path, timeout=0.05):
                pass
        with pytest.raises(filelock.Timeout):  # and filelock sees the same lock
            filelock.FileLock(str(path)).acquire(timeout=0)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with config.os_file_lock(path, timeout=1):
        pass
