"""Time to first request and first visible token, ours against the bare client and ``%%ai``.

In a real kernel against the local OpenAI-protocol test server: the extension (or the
client) is loaded, two seconds pass (a person typing the first request), then a cell
asks a question. Measured from sending the cell's execute request:

- *first request*: when the request reaches the server (the server's clock, same machine);
- *first visible token* (ours): when the first comm message carrying the answer's text
  reaches the frontend, after the server sent it (target: within one render interval,
  80 ms).

For the first cell and the median of five later ones; also how long the setup cell
(``%load_ext``) took, from the execute request to the reply. ``%%ai`` (jupyter-ai-magics) is
measured when a Python with it is given: ``--jupyter-ai PYTHON`` (a separate virtual
environment is wise: it brings LangChain).

Run: ``python benchmarks/bench_first_token.py [--jupyter-ai /path/to/python] [--later N]``
(``--later``: how many later cells, default 5).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kernel_harness import Kernel  # noqa: E402
from sse_server import ServerProcess, text_reply  # noqa: E402

LATER = 5
TYPING = 2.0
ANSWER = "Zebra-answer"

BARE_FIRST = """
import openai
_c = openai.OpenAI(max_retries=0)
_r = _c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
print("".join(ch.choices[0].delta.content or "" for ch in _r if ch.choices))
"""
BARE_LATER = """
_r = _c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
print("".join(ch.choices[0].delta.content or "" for ch in _r if ch.choices))
"""


def _env(server: ServerProcess) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": server.url,
        "OPENAI_API_BASE": server.url,
        "HERMES_NB_MODEL": "openai:gpt-4o-mini",
    }


def _start(folder: Path, env: dict[str, str], python: str | None = None) -> Kernel:
    k = Kernel(folder, env)
    if python is not None:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        spec_dir = folder / "kernels" / "other"
        spec_dir.mkdir(parents=True)
        argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec_dir / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "other", "language": "python"}))
        ksm = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
        k.km = KernelManager(kernel_name="other", kernel_spec_manager=ksm)
    k.start()
    return k


def measure(
    setup: str, first: str, later: str, python: str | None = None, visible: bool = False,
    answered: bool = True,
) -> tuple[list[float], list[float], float]:
    """(first-request delays, first-visible-token delays) in seconds: the first cell, then
    LATER more; and how long the setup cell (loading the extension) took."""
    replies = [text_reply(ANSWER, " and more")] * (LATER + 1)
    requests, shown = [], []
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(replies) as server:
        k = _start(Path(tmp), _env(server), python)
        try:
            assert k.run("pass", timeout=120).status == "ok"  # the kernel's own first-cell costs
            began = time.time()
            ready = k.run(setup, timeout=120)
            loading = time.time() - began
            assert ready.status == "ok", ready.text()
            time.sleep(TYPING)
            for i in range(LATER + 1):
                sent = time.time()
                before = len(server.requests())
                ex = k.run(first if i == 0 else later, timeout=120)
                if answered:
                    assert ANSWER in ex.text() + ex.html() + "".join(d for _, d in ex.comm_log), ex.text()[-400:]
                assert len(server.requests()) == before + 1, ex.text()[-400:]
                arrived = server.requests()[-1]["at"]
                requests.append(arrived - sent)
                if visible:
                    when = next(t for t, data in ex.comm_log if ANSWER in data)
                    shown.append(when - arrived)
        finally:
            k.shutdown()
    return requests, shown, loading


def _row(name: str, delays: list[float]) -> str:
    return f"  {name:<28} first {delays[0] * 1000:7.1f} ms   later {statistics.median(delays[1:]) * 1000:6.1f} ms (median of {LATER})"


def main() -> None:
    global LATER
    if "--later" in sys.argv:
        LATER = int(sys.argv[sys.argv.index("--later") + 1])
    jupyter_ai = sys.argv[sys.argv.index("--jupyter-ai") + 1] if "--jupyter-ai" in sys.argv else None
    runs: dict[str, Callable[[], tuple[list[float], list[float], float]]] = {
        "%%agent (hermes_nb)": lambda: measure(
            "%load_ext hermes_nb\n%config AgentMagics.auto_title = False\n%config AgentMagics.display = 'widget'",
            f"%%agent\nSay {ANSWER}.", f"%%agent\nSay {ANSWER} again.", visible=True,
        ),
        "bare openai client": lambda: measure("pass", BARE_FIRST, BARE_LATER),
    }
    if jupyter_ai:
        runs["%%ai (jupyter-ai-magics)"] = lambda: measure(
            "%load_ext jupyter_ai_magics", "%%ai openai-chat:gpt-4o-mini\nhi", "%%ai openai-chat:gpt-4o-mini\nhi",
            python=jupyter_ai, answered=False,  # it asks without streaming; only the request is timed
        )
    results: dict[str, Any] = {}
    print(f"from the execute request to the request reaching the server ({TYPING:.0f} s after loading):")
    for name, fn in runs.items():
        requests, shown, loading = fn()
        results[name] = {"request": requests, "visible": shown, "load": loading}
        print(_row(name, requests) + f"   (setup cell {loading * 1000:.1f} ms)")
        if shown:
            print(_row("  first visible token", shown).replace("first ", "after the server: first ", 1))
    if not jupyter_ai:
        print("  (%%ai not measured: pass --jupyter-ai PYTHON of an environment with jupyter-ai-magics)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
