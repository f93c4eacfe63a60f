"""Tool registry, schema building, the user decorator and the built-in tools."""

from __future__ import annotations

import base64
import os
import sys
import threading
import time
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Optional

import pytest

import hermes_nb
from hermes_nb.agent.tools import USER_TOOLS, Tool, ToolOutput, ToolRegistry, builtin_tools
from hermes_nb.agent.tools.builtin import MAX_READ_BYTES, run_shell
from hermes_nb.agent.tools.pyexec import run_python
from hermes_nb.agent.tools.registry import current_cancel
from hermes_nb.agent.tools.schema import parse_docstring
from hermes_nb.errors import ToolError

# -- schema building -------------------------------------------------------------------


class Color(Enum):
    RED = "red"
    BLUE = "blue"


def _typed(
    name: str,
    count: int,
    ratio: float = 0.5,
    flag: bool = False,
    tags: list[str] | None = None,
    mode: Literal["fast", "slow"] = "fast",
    color: Color = Color.RED,
    extra: Optional[dict[str, int]] = None,  # noqa: UP045 - the old spelling must work too
    anything=None,
) -> str:
    """Do a typed thing.

    More detail that is not part of the description.

    Args:
        name: Who to greet.
        count (int): How many
            times, at most.
        ratio: A fraction.

    Returns:
        A greeting.
    """
    return name * count


def test_schema_from_signature_and_google_docstring() -> None:
    t = Tool.from_function(_typed)
    assert t.name == "_typed"
    assert t.description == "Do a typed thing."
    params = t.parameters
    assert params["type"] == "object"
    assert params["required"] == ["name", "count"]
    props = params["properties"]
    assert props["name"] == {"type": "string", "description": "Who to greet."}
    assert props["count"] == {"type": "integer", "description": "How many times, at most."}
    assert props["ratio"] == {"type": "number", "description": "A fraction.", "default": 0.5}
    assert props["flag"] == {"type": "boolean", "default": False}
    assert props["tags"] == {"type": ["array", "null"], "items": {"type": "string"}, "default": None}
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"], "default": "fast"}
    assert props["color"] == {"type": "string", "enum": ["red", "blue"], "default": "red"}
    assert props["extra"]["type"] == ["object", "null"]
    assert props["extra"]["additionalProperties"] == {"type": "integer"}
    assert props["anything"] == {"default": None}
    schema = t.schema()
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "_typed"
    assert schema["function"]["parameters"] is params


def test_sphinx_docstring_and_no_docstring() -> None:
    def sphinx(path: str, limit: int = 3) -> str:
        """Read something.

        :param path: where it is
            on disk
        :param int limit: how much
        :returns: the thing
        """
        return path

    def bare(x: int):
        return x

    t = Tool.from_function(sphinx)
    assert t.description == "Read something."
    assert t.parameters["properties"]["path"]["description"] == "where it is on disk"
    assert t.parameters["properties"]["limit"]["description"] == "how much"
    b = Tool.from_function(bare)
    assert b.description == "bare"
    assert b.parameters == {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}


def test_parse_docstring_description_is_first_paragraph() -> None:
    desc, args = parse_docstring("Line one\ncontinues here.\n\nSecond paragraph.\n\nArgs:\n    a: alpha\n")
    assert desc == "Line one continues here."
    assert args == {"a": "alpha"}


def test_varargs_and_bad_names_are_rejected_clearly() -> None:
    def star(*items: str) -> str:
        """Join."""
        return "".join(items)

    def kw(**options: str) -> str:
        """Options."""
        return ""

    with pytest.raises(ToolError, match=r"\*items is not supported"):
        Tool.from_function(star)
    with pytest.raises(ToolError, match=r"\*\*options is not supported"):
        Tool.from_function(kw)
    with pytest.raises(ToolError, match="invalid tool name"):
        Tool.from_function(lambda: None, name="has space")
    with pytest.raises(ToolError, match="unknown policy"):
        Tool.from_function(_typed, policy="sometimes")
    with pytest.raises(ToolError, match="must be a function"):
        Tool.from_function(42)  # type: ignore[arg-type]


def test_call_checks_argument_names_and_normalises_results() -> None:
    def add(a: int, b: int = 1) -> int:
        """Add."""
        return a + b

    def nothing() -> None:
        """Nothing."""

    t = Tool.from_function(add)
    assert t.call({"a": 2}) == ToolOutput("3")
    assert t.call({"a": 2, "b": 5}).text == "7"
    with pytest.raises(ToolError, match="invalid arguments for add"):
        t.call({"b": 1})
    with pytest.raises(ToolError, match="unexpected keyword"):
        t.call({"a": 1, "c": 2})
    assert Tool.from_function(nothing).call({}).text == "(no output)"
    assert Tool.from_function(lambda: {"k": [1, 2]}, name="d").call({}).text == '{"k": [1, 2]}'


def test_registry_register_get_copy_replace() -> None:
    reg = ToolRegistry()

    def one() -> str:
        """First version."""
        return "1"

    def one_again() -> str:
        """Second version."""
        return "2"

    reg.register(one)
    assert "one" in reg and reg.names() == ["one"] and len(reg) == 1
    copy = reg.copy()
    reg.register(one_again, name="one", policy="ask", needs_kernel=True)
    got = reg.get("one")
    assert got is not None and got.description == "Second version." and got.policy == "ask"
    assert got.needs_kernel
    assert copy.get("one").description == "First version."  # type: ignore[union-attr]
    assert reg.get("missing") is None
    assert [s["function"]["name"] for s in reg.schemas()] == ["one"]
    renamed = reg.register(got, name="uno", policy="deny")
    assert renamed.name == "uno" and renamed.policy == "deny" and reg.get("one") is got
    reg.unregister("uno")
    assert "uno" not in reg


def test_user_tool_decorator_both_forms() -> None:
    try:

        @hermes_nb.tool
        def greet(who: str) -> str:
            """Say hello to someone."""
            return f"hello {who}"

        @hermes_nb.tool(policy="ask", name="shout")
        def loud(who: str) -> str:
            """Say it loudly."""
            return who.upper()

        assert greet("bo") == "hello bo"  # still a plain function
        assert loud("bo") == "BO"
        g, s = USER_TOOLS.get("greet"), USER_TOOLS.get("shout")
        assert g is not None and g.policy == "allow" and g.description == "Say hello to someone."
        assert s is not None and s.policy == "ask" and s.call({"who": "x"}).text == "X"
        assert "loud" not in USER_TOOLS
    finally:
        USER_TOOLS.unregister("greet")
        USER_TOOLS.unregister("shout")


# -- the python tool -------------------------------------------------------------------


def test_python_stdout_stderr_and_last_expression() -> None:
    ns: dict[str, Any] = {}
    out = run_python("import sys\nprint('out')\nprint('err', file=sys.stderr)\nx = 40\nx + 2", ns)
    assert not out.is_error
    assert out.text == "[stdout]\nout\n[stderr]\nerr\n[result]\n42"
    assert ns["x"] == 40
    assert run_python("x * 2", ns).text == "[result]\n80"  # state persists between calls
    assert run_python("y = 1", ns).text == "(no output)"
    assert run_python("None", ns).text == "(no output)"


def test_python_exception_has_type_message_and_trimmed_traceback() -> None:
    out = run_python("def f(n):\n    return 1 / n\nprint('before')\nf(0)", {})
    assert out.is_error
    assert out.text.startswith("[stdout]\nbefore\n[error]\nTraceback (most recent call last):")
    assert "ZeroDivisionError: division by zero" in out.text
    assert "return 1 / n" in out.text  # the model's own source lines are shown
    assert "pyexec.py" not in out.text and "run_python" not in out.text


def test_python_syntax_error_and_exit() -> None:
    out = run_python("def broken(:\n    pass", {})
    assert out.is_error and "SyntaxError" in out.text and "line 1" in out.text
    out = run_python("raise SystemExit(3)", {})
    assert out.is_error and "exit(3)" in out.text


def test_python_keyboard_interrupt_propagates() -> None:
    stdout = sys.stdout
    with pytest.raises(KeyboardInterrupt):
        run_python("print('x')\nraise KeyboardInterrupt", {})
    assert sys.stdout is stdout  # the capture was undone


def test_python_renders_agg_figures_as_png_outputs() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    out = run_python("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nprint('drawn')", {})
    assert not out.is_error
    assert "[stdout]\ndrawn" in out.text and "[1 figure displayed]" in out.text
    assert len(out.outputs) == 1
    png = base64.b64decode(out.outputs[0]["data"]["image/png"])
    assert png.startswith(b"\x89PNG")
    assert plt.get_fignums() == []  # shown figures are closed, like the inline backend does


def test_python_captures_rich_displays_with_inline_backend_in_a_shell() -> None:
    from IPython.core import pylabtools
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib_inline import backend_inline

    shell = InteractiveShell.instance()
    try:
        # what %matplotlib inline does in a kernel (the base shell has no GUI loop)
        backend = "module://matplotlib_inline.backend_inline"
        pylabtools.activate_matplotlib(backend)
        backend_inline.configure_inline_support(shell, backend)
        code = (
            "import matplotlib.pyplot as plt\n"
            "from IPython.display import display, HTML\n"
            "display(HTML('<b>table</b>'))\n"
            "fig, ax = plt.subplots()\n"
            "ax.plot([3, 1, 2])\n"
            "'done'"
        )
        out = run_python(code, shell.user_ns)
        assert not out.is_error, out.text
        kinds = [sorted(o["data"]) for o in out.outputs]
        assert ["text/html", "text/plain"] in kinds
        assert any("image/png" in k for k in kinds)
        png = next(o for o in out.outputs if "image/png" in o["data"])["data"]["image/png"]
        assert base64.b64decode(png).startswith(b"\x89PNG")
        assert "[1 figure displayed]" in out.text
        assert "[displayed text/html, text/plain]" in out.text
        assert out.text.startswith("[result]\n'done'")
    finally:
        InteractiveShell.clear_instance()
        import matplotlib

        matplotlib.interactive(False)
        matplotlib.use("Agg")


# -- files and shell ------------------------------------------------------------------


def test_read_list_write_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    reg = builtin_tools()
    assert reg.names() == ["python", "read_file", "list_files", "write_file", "shell"]
    policies = {t.name: (t.policy, t.needs_kernel) for t in reg}
    assert policies == {
        "python": ("allow", True),
        "read_file": ("folder", False),
        "list_files": ("folder", False),
        "write_file": ("folder", False),
        "shell": ("ask", False),
    }
    write = reg.get("write_file")
    assert write is not None
    assert "Wrote 5 characters" in write.call({"path": "sub/dir/a.txt", "content": "héllo"}).text
    assert (tmp_path / "sub/dir/a.txt").read_text(encoding="utf-8") == "héllo"
    write.call({"path": "sub/dir/a.txt", "content": "new"})
    assert (tmp_path / "sub/dir/a.txt").read_text() == "new"
    assert [p.name for p in (tmp_path / "sub/dir").iterdir()] == ["a.txt"]  # no temp files left

    read = reg.get("read_file")
    assert read is not None
    assert read.call({"path": "sub/dir/a.txt"}).text == "new"
    missing = read.call({"path": "nope.txt"})
    assert missing.is_error and "No such file" in missing.text
    assert read.call({"path": "sub"}).is_error
    (tmp_path / "bin.dat").write_bytes(b"\x00\x01\x02")
    assert "binary" in read.call({"path": "bin.dat"}).text

    listing = reg.get("list_files")
    assert listing is not None
    (tmp_path / "b.txt").write_text("12345")
    text = listing.call({}).text
    assert text.splitlines() == ["sub/", "b.txt  (5 B)", "bin.dat  (3 B)"]
    assert listing.call({"path": "sub"}).text == "dir/"
    assert listing.call({"path": "zzz"}).is_error


def test_read_file_is_size_limited(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("x" * (MAX_READ_BYTES + 1000))
    out = builtin_tools().get("read_file").call({"path": str(big)})  # type: ignore[union-attr]
    assert out.text.startswith("x" * 1000)
    assert "only the first" in out.text and len(out.text) < MAX_READ_BYTES + 200


def test_shell_exit_code_stdout_stderr() -> None:
    shell = builtin_tools().get("shell")
    assert shell is not None
    out = shell.call({"command": "echo out; echo err >&2; exit 3"})
    assert out.is_error
    assert out.text == "exit code: 3\n[stdout]\nout\n[stderr]\nerr"
    assert shell.call({"command": "true"}).text == "exit code: 0"


def test_shell_timeout_kills_the_command() -> None:
    start = time.monotonic()
    out = run_shell("echo started; sleep 30", timeout=0.5)
    assert time.monotonic() - start < 5
    assert out.is_error
    assert out.text.startswith("Timed out after 0.5 s; the command was stopped.")
    assert "started" in out.text


def test_shell_stops_on_cancel() -> None:
    shell = builtin_tools(shell_timeout=30).get("shell")
    assert shell is not None
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    start = time.monotonic()
    out = shell.call({"command": "sleep 30"}, cancel)
    assert time.monotonic() - start < 5
    assert out.is_error and "Cancelled" in out.text


def test_current_cancel_outside_a_run_is_never_set() -> None:
    assert not current_cancel().is_set()


def test_write_file_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "script.sh"
    target.write_text("old")
    os.chmod(target, 0o750)
    builtin_tools().get("write_file").call({"path": str(target), "content": "new"})  # type: ignore[union-attr]
    assert target.stat().st_mode & 0o777 == 0o750
