"""After %load_ext, what the first run needs is loaded in the background, not in the cell."""

from __future__ import annotations

import time
from pathlib import Path

from kernel_harness import kernel
from sse_server import ServerProcess, text_reply

PROBE = """
import sys
from hermes_nb.kernel import prewarm
from hermes_nb.agent.providers import resolve_provider
_p = resolve_provider("openai:test-model")
_m = get_ipython().magics_manager.registry["AgentMagics"]
_tools = _m._toolset.builds if _m._toolset is not None else 0
print("WARM", all(m in sys.modules for m in ("openai", "ipywidgets", *prewarm.MODULES)), _p._http is not None,
      _p._context_window is not None, _tools)
"""
BUILDS = 'print("BUILDS", get_ipython().magics_manager.registry["AgentMagics"].toolset().builds)'


def test_load_ext_prepares_the_sdk_and_the_provider_before_the_first_cell(tmp_path: Path) -> None:
    (tmp_path / "nb.ipynb").write_text("{}")
    with ServerProcess([text_reply("Ready.")]) as server:
        env = {
            "OPENAI_API_KEY": "sk-test-not-a-real-key",
            "OPENAI_BASE_URL": server.url,
            "HERMES_NB_MODEL": "openai:test-model",
            "JPY_SESSION_NAME": str(tmp_path / "nb.ipynb"),
        }
        with kernel(tmp_path, env) as k:
            loaded = k.run("%load_ext hermes_nb")
            assert loaded.status == "ok", loaded.text()
            deadline = time.monotonic() + 120
            while True:
                out = k.run(PROBE).stdout
                if "WARM True True True 1" in out or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            # the SDK, the pool, the context window (asked of the server) and the tools
            assert "WARM True True True 1" in out, out
            assert server.requests() == []  # preparing sends no chat request
            ran = k.run("%%agent\nAre you ready?")
            assert "Ready." in ran.text(), ran.text()
            assert "BUILDS 1" in k.run(BUILDS).stdout  # the run used the tools made beforehand


def test_no_model_configured_prewarms_quietly(tmp_path: Path) -> None:
    (tmp_path / "nb.ipynb").write_text("{}")
    env = {"HERMES_NB_MODEL": "", "JPY_SESSION_NAME": str(tmp_path / "nb.ipynb")}
    with kernel(tmp_path, env) as k:
        loaded = k.run("%load_ext hermes_nb\nimport time; time.sleep(1)")
        assert loaded.status == "ok" and not loaded.stderr.strip().startswith("Traceback"), loaded.text()
        assert "Exception in thread" not in loaded.stderr
