"""Make the session file that ``notebooks/recovery.ipynb`` restores and resumes.

It is a real one: a kernel runs ``%%agent`` against the scripted test server, the
model calls the ``python`` tool and starts answering, and the kernel is killed
(SIGKILL, as by an out-of-memory kill) once the checkpoint on disk holds the tool
result and some of the answer. The file is copied as the dead kernel left it, with
its turn journal (the checkpoint of the run in progress, ``<id>.turn``) folded in, so
the fixture is one self-contained session file.

    python tests/make_recovery_fixture.py [--out notebooks/recovery_data]

Re-running replaces the file (a new session id); the notebook finds it by globbing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from disk_view import read_session  # noqa: E402
from kernel_harness import kernel  # noqa: E402
from sse_server import ServerProcess, stall_reply, tool_reply  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "recovery.ipynb"
REQUEST = "What is the sum of the squares of the numbers 1 to 10? Use Python."
CODE = "squares = [n * n for n in range(1, 11)]\nsum(squares)"
PARTIAL = "The sum of the first ten squares is"

REPLIES = [
    tool_reply([("call_1", "python", {"code": CODE})], text="I'll compute it in the kernel."),
    stall_reply(600, before=PARTIAL),  # the kernel dies while this answer streams
]


def _sessions(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / ".hermes_nb" / "sessions").glob("*.json") if p.name != "_index.json")


def _checkpointed(path: Path) -> bool:
    """True once the file on disk holds the tool result and part of the answer."""
    try:
        data: dict[str, Any] = read_session(path)
    except (OSError, ValueError):
        return False
    results = [m for m in data.get("pending_messages") or [] if m.get("role") == "tool"]
    return bool(results) and "385" in str(results[0].get("content")) and data.get("pending_partial_text") == PARTIAL


def make(out: Path, timeout: float = 60.0) -> Path:
    with tempfile.TemporaryDirectory(prefix="hermes-fixture-") as tmp, ServerProcess(REPLIES) as server:
        folder = Path(tmp)
        (folder / NOTEBOOK).write_text("{}", encoding="utf-8")
        env = {
            "OPENAI_API_KEY": "sk-fixture-not-a-real-key",
            "OPENAI_BASE_URL": server.url,
            "HERMES_NB_MODEL": "openai:gpt-4.1-mini",
            "JPY_SESSION_NAME": str(folder / NOTEBOOK),
        }
        with kernel(folder, env) as k:
            setup = k.run("%load_ext hermes_nb\n%config AgentMagics.checkpoint_interval = 0.2\n%agent new Sum of squares")
            if setup.status != "ok":
                raise RuntimeError(f"loading the extension failed:\n{setup.text()}")
            k.submit(f"%%agent\n{REQUEST}")
            deadline = time.monotonic() + timeout
            while not any(_checkpointed(p) for p in _sessions(folder)):
                if time.monotonic() > deadline:
                    raise RuntimeError("no checkpoint with the tool result and partial answer")
                time.sleep(0.05)
            k.kill()
        [source] = _sessions(folder)
        saved = read_session(source)
        text = json.dumps(saved, ensure_ascii=False, indent=1)
        if not saved.get("active_stream_id") or env["OPENAI_API_KEY"] in text:
            raise RuntimeError("the session file is not an interrupted run, or holds the key")
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.json"):
            old.unlink()
        target = out / source.name
        target.write_text(text, encoding="utf-8")
        return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "notebooks" / "recovery_data")
    args = parser.parse_args()
    print(make(args.out))


if __name__ == "__main__":
    main()
