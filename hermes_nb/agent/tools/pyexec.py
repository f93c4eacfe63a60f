"""The ``python`` tool: run code in the user's namespace like a notebook cell would.

The model sees stdout, stderr, the last expression's repr, a note of rich outputs
and, on failure, a traceback that starts at its own code. The user sees the rich
outputs (figures, tables) as mimebundles. This runs on the kernel's main thread:
the stream redirections and the display publisher swap are process-wide.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import itertools
import linecache
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from hermes_nb.agent.images import images_from_bundles
from hermes_nb.agent.tools.capture import CodeStream, current_tap
from hermes_nb.agent.tools.registry import ToolOutput

__all__ = ["ToolInterrupted", "run_python"]

_counter = itertools.count(1)


#: rich displays (figures, tables) kept from one call; more are counted, not kept
MAX_OUTPUTS = 50


@dataclass
class _Captured:
    stdout: str = ""
    stderr: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    dropped_outputs: int = 0


class ToolInterrupted(KeyboardInterrupt):
    """The stop button during a ``python`` call; ``output`` is what it printed until then."""

    def __init__(self, output: ToolOutput) -> None:
        super().__init__("interrupted by the user")
        self.output = output


def run_python(code: str, namespace: dict[str, Any]) -> ToolOutput:
    """Execute ``code`` in ``namespace``; a final expression's value is reported.

    ``KeyboardInterrupt`` is not swallowed: in a kernel it is the user's Stop button
    and the cell thread turns it into a cancel of the run. It is re-raised as
    ``ToolInterrupted`` carrying the output so far, so the model sees it.
    """
    filename = f"<python-tool-{next(_counter)}>"
    try:
        body, last = _compile(code, filename)
    except SyntaxError as exc:
        text = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        return ToolOutput(f"[error]\n{text}", is_error=True)
    _register_source(filename, code)
    value: Any = None
    error: str | None = None
    interrupted = False
    before = _open_figures()
    with _capture() as cap:
        try:
            exec(body, namespace)
            if last is not None:
                value = eval(last, namespace)
        except (Exception, SystemExit) as exc:
            error = _format_error(exc, filename)
        except KeyboardInterrupt:
            interrupted = True
            error = "KeyboardInterrupt: stopped by the user (the stop button)"
        if not interrupted:
            figures = _flush_figures(before)
    if interrupted:
        raise ToolInterrupted(_report(cap, None, error))
    cap.outputs.extend(figures)
    return _report(cap, value, error)


def _compile(code: str, filename: str) -> tuple[Any, Any]:
    """Compile all statements, keeping a final expression apart so its value can be shown."""
    tree = ast.parse(code, filename=filename, mode="exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        final = tree.body.pop()
        assert isinstance(final, ast.Expr)
        last = compile(ast.Expression(final.value), filename, "eval")
    return compile(tree, filename, "exec"), last


def _register_source(filename: str, code: str) -> None:
    """Let tracebacks show the model's lines, as IPython does for cells."""
    lines = [line + "\n" for line in code.splitlines()]
    linecache.cache[filename] = (len(code), None, lines, filename)


def _format_error(exc: BaseException, filename: str) -> str:
    """Type, message and the traceback from the first frame of the model's code."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    if isinstance(exc, SystemExit):
        return f"SystemExit: the code called exit({exc.code!r}); the kernel keeps running"
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


@contextlib.contextmanager
def _capture() -> Iterator[_Captured]:
    """Capture stdout, stderr and rich displays, each bounded; the results fill in on exit.

    Streams keep their start and end (``capture.BoundedText``) and at most
    ``MAX_OUTPUTS`` displays are kept, so a runaway loop cannot fill the kernel's memory.
    Only the code's own writes are kept (``capture.CodeStream``); each also goes to the
    live view's tap, when one is set.
    """
    cap = _Captured()
    shell = _shell()
    publisher = _bounded_publisher() if shell is not None else None
    saved_pub = shell.display_pub if shell is not None else None
    saved_out, saved_err = sys.stdout, sys.stderr
    tap = current_tap()
    out, err = CodeStream("stdout", saved_out, tap), CodeStream("stderr", saved_err, tap)
    sys.stdout, sys.stderr = out, err
    if shell is not None:
        shell.display_pub = publisher
    try:
        yield cap
    finally:
        sys.stdout, sys.stderr = saved_out, saved_err
        if shell is not None:
            shell.display_pub = saved_pub
        cap.stdout, cap.stderr = out.getvalue(), err.getvalue()
        if publisher is not None:
            cap.outputs = [_bundle(o["data"], o["metadata"]) for o in publisher.kept]
            if publisher.dropped:
                cap.dropped_outputs = publisher.dropped


def _bounded_publisher() -> Any:
    """A display publisher that keeps the first ``MAX_OUTPUTS`` displays (IPython's
    own capturing publisher keeps them all)."""
    from IPython.core.displaypub import DisplayPublisher

    class BoundedPublisher(DisplayPublisher):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.kept: list[dict[str, Any]] = []
            self.dropped = 0

        def publish(self, data: Any, metadata: Any = None, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("update"):
                return  # an update of a display shown elsewhere
            if len(self.kept) < MAX_OUTPUTS:
                self.kept.append({"data": data, "metadata": metadata})
            else:
                self.dropped += 1

        def clear_output(self, wait: bool = False) -> None:
            self.kept.clear()

    return BoundedPublisher()


def _shell() -> Any:
    """The running IPython shell, if any (without importing IPython when it is not loaded)."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def _bundle(data: Any, metadata: Any) -> dict[str, Any]:
    """A JSON-safe mimebundle: binary payloads (PNG) become base64 text."""
    clean: dict[str, Any] = {}
    for mime, value in (data or {}).items():
        if isinstance(value, (bytes, bytearray)):
            value = base64.b64encode(bytes(value)).decode("ascii")
        clean[mime] = value
    return {"data": clean, "metadata": dict(metadata or {})}


def _open_figures() -> set[int]:
    if "matplotlib.pyplot" not in sys.modules:
        return set()
    import matplotlib.pyplot as plt

    return set(plt.get_fignums())


def _flush_figures(before: set[int]) -> list[dict[str, Any]]:
    """Show the figures the code drew, inside the capture, so they become outputs.

    With the inline backend this is what the kernel does after a cell (its displays
    are captured); with Agg, open figures are rendered to PNG bundles and closed.
    """
    if "matplotlib.pyplot" not in sys.modules:
        return []
    import matplotlib

    get = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
    backend = str(get() if get is not None else matplotlib.get_backend()).lower()
    if "inline" in backend:
        from matplotlib_inline.backend_inline import flush_figures

        flush_figures()
        return []
    if backend == "agg":
        return _render_new_figures(before)
    return []


def _render_new_figures(before: set[int]) -> list[dict[str, Any]]:
    import matplotlib.pyplot as plt

    bundles = []
    for num in sorted(set(plt.get_fignums()) - before):
        fig = plt.figure(num)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        plt.close(fig)
        bundles.append(_bundle({"image/png": buf.getvalue(), "text/plain": repr(fig)}, {}))
    return bundles


def _report(cap: _Captured, value: Any, error: str | None) -> ToolOutput:
    parts: list[str] = []
    if cap.stdout:
        parts.append("[stdout]\n" + cap.stdout.rstrip("\n"))
    if cap.stderr:
        parts.append("[stderr]\n" + cap.stderr.rstrip("\n"))
    if value is not None and error is None:
        parts.append("[result]\n" + _safe_repr(value))
    note = _outputs_note(cap.outputs)
    if note:
        parts.append(note)
    if cap.dropped_outputs:
        parts.append(f"[{cap.dropped_outputs} more displays not kept; only the first {MAX_OUTPUTS} are]")
    if error is not None:
        parts.append("[error]\n" + error)
    text = "\n".join(parts) if parts else "(no output)"
    return ToolOutput(
        text, is_error=error is not None, outputs=tuple(cap.outputs), images=images_from_bundles(cap.outputs)
    )


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a broken __repr__ must not hide the run's other output
        return f"<{type(value).__name__} object; repr failed: {exc}>"


def _text_form(data: dict[str, Any]) -> str:
    """The most useful text of a display for the model (a default "<X object>" repr is not)."""
    plain = str(data.get("text/plain", "")).strip()
    if plain.startswith("<") and plain.endswith(">") and " object" in plain:
        plain = ""
    for mime in ("text/markdown", "text/latex"):
        if data.get(mime):
            return str(data[mime]).strip()
    return plain or str(data.get("text/html", "")).strip()


def _outputs_note(outputs: list[dict[str, Any]]) -> str:
    """E.g. "[1 figure displayed]" plus the text form of other displays (tables)."""
    figures = sum(1 for o in outputs if any(m.startswith("image/") for m in o["data"]))
    others = [o for o in outputs if not any(m.startswith("image/") for m in o["data"])]
    lines: list[str] = []
    if figures:
        lines.append(f"[{figures} figure{'s' if figures > 1 else ''} displayed]")
    for o in others:
        kinds = ", ".join(sorted(o["data"]))
        text = _text_form(o["data"])
        lines.append(f"[displayed {kinds}]" + (f"\n{text[:2000]}" if text else ""))
    return "\n".join(lines)
