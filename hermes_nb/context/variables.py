"""``@name`` in a request: the live kernel object, described compactly for the model.

The agent runs inside the kernel, so it can describe the real object (a DataFrame's
columns and first rows, an array's shape and dtype) instead of a text dump the user
pastes. Each description is bounded, and a broken ``__repr__`` or a property that
raises never stops the request. Context is stored on the user message as small
dicts (``{"kind": "variable", "name": ..., "text": ...}``) and rendered into the
request by ``render_context``.
"""

from __future__ import annotations

import re
import reprlib
import types
from collections.abc import Iterable, Mapping
from typing import Any

from hermes_nb.safety.redact import MASK, is_secret_name, redact

__all__ = [
    "MAX_NAMESPACE_CHARS",
    "MAX_VARIABLE_CHARS",
    "build_context",
    "describe",
    "mentions",
    "namespace_summary",
    "render_context",
]

MAX_VARIABLE_CHARS = 2_500
MAX_NAMESPACE_CHARS = 1_500
MAX_NAMESPACE_NAMES = 60
MAX_MENTIONS = 8
_ROWS = 5
_COLUMNS = 40

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
_MENTION = re.compile(r"(?<![\w@`])@([A-Za-z_][A-Za-z0-9_]*)")
#: names IPython puts in every namespace; not the user's
_REPR = reprlib.Repr()
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdict = 50
_REPR.maxstring = _REPR.maxother = 1500
_REPR.maxlevel = 3
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})


def mentions(text: str) -> list[str]:
    """Names written as ``@name`` outside code (fenced blocks and inline code spans), in order."""
    prose: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * len(match.group(1))
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            continue
        prose.append(line)
    plain = _INLINE_CODE.sub(" ", "\n".join(prose))
    found: list[str] = []
    for name in _MENTION.findall(plain):
        if name not in found:
            found.append(name)
    return found


def describe(name: str, value: Any, environ: Mapping[str, str] | None = None) -> str:
    """A compact, bounded description of one kernel object for the model.

    Values of secret-looking environment variables (API keys, tokens) are masked, so a
    key that ended up in a variable or a table is not sent or saved with the request.
    """
    try:
        if is_secret_name(name) and type(value) in (str, bytes) and len(value) >= 8:
            text = f"@{name}: {type(value).__name__} of {len(value)} characters = {MASK}"
        else:
            text = _describe(name, value)
    except KeyboardInterrupt:  # Stop still stops the request
        raise
    except BaseException as exc:  # SystemExit, GeneratorExit from a __repr__ or a property
        text = f"@{name}: {_type_name(value)} (could not be described: {_failure(exc)})"
    return _mask_secrets(_cut(text, MAX_VARIABLE_CHARS), environ)


def _failure(exc: BaseException) -> str:
    """``ValueError: message``; only the type for what is not an ``Exception`` (its text
    is the object's own code too, and may fail again)."""
    if not isinstance(exc, Exception):
        return type(exc).__name__
    try:
        return f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt:
        raise
    except BaseException:
        return type(exc).__name__


def _mask_secrets(text: str, environ: Mapping[str, str] | None) -> str:
    """The one redaction rule of everything that leaves the kernel (``hermes_nb.safety.redact``)."""
    return redact(text, environ, headers=False)


def _describe(name: str, value: Any) -> str:
    kind = _type_name(value)
    if _is(value, "pandas", "DataFrame"):
        return _describe_frame(name, value)
    if _is(value, "pandas", "Series"):
        return _describe_series(name, value)
    if _is(value, "numpy", "ndarray"):
        return _describe_array(name, value)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return f"@{name}: {kind} of {len(value)} items = {_cut(_REPR.repr(value), 1500)}"
    if isinstance(value, str):
        return f"@{name}: str of {len(value)} characters = {_cut(_REPR.repr(value), 1500)}"
    if callable(value) and hasattr(value, "__name__"):
        return f"@{name}: {kind} {_signature(value)}" + _first_doc_line(value)
    return f"@{name}: {kind} = {_safe_repr(value, 1500)}"


def _describe_frame(name: str, df: Any) -> str:
    rows, cols = df.shape
    items = list(df.dtypes.items())
    columns = ", ".join(f"{col} ({dtype})" for col, dtype in items[:_COLUMNS])
    if len(items) > _COLUMNS:
        columns += f", … {len(items) - _COLUMNS} more columns"
    import pandas as pd

    with pd.option_context(
        "display.max_columns", 20, "display.width", 160, "display.max_colwidth", 40
    ):
        head = df.head(_ROWS).to_string()
    lines = [
        f"@{name}: pandas DataFrame, {rows} rows × {cols} columns",
        f"columns (dtype): {columns}",
        f"first {min(rows, _ROWS)} rows:",
        head,
    ]
    return "\n".join(lines)


def _describe_series(name: str, series: Any) -> str:
    head = series.head(_ROWS).to_string()
    return (
        f"@{name}: pandas Series {series.name!r}, {len(series)} values, dtype {series.dtype}\n"
        f"first {min(len(series), _ROWS)} values:\n{head}"
    )


def _describe_array(name: str, arr: Any) -> str:
    import numpy as np

    preview = np.array2string(arr, threshold=20, edgeitems=3, max_line_width=120)
    return f"@{name}: numpy ndarray, shape {tuple(arr.shape)}, dtype {arr.dtype}\n{_cut(preview, 800)}"


def namespace_summary(namespace: Mapping[str, Any], hidden: Iterable[str] = ()) -> str:
    """The user's variables, one short line each (names and types), bounded.

    ``hidden`` are names the kernel defined at startup (IPython's ``user_ns_hidden``).
    When there are too many, the most recently defined are kept.
    """
    skip = set(hidden) | _IPYTHON_NAMES
    entries: list[tuple[str, Any]] = []
    modules: list[str] = []
    for name, value in list(namespace.items()):
        if name.startswith("_") or name in skip:
            continue
        if isinstance(value, types.ModuleType):  # also a module of a subclass (a lazy or aliased one)
            modules.append(name)
        else:
            entries.append((name, value))
    if not entries and not modules:
        return ""
    lines = [f"{name}: {_short_or_type(value)}" for name, value in entries[-MAX_NAMESPACE_NAMES:]]
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) + 1 > MAX_NAMESPACE_CHARS:
            break
        kept.append(line)
        size += len(line) + 1
    kept.reverse()
    out = []
    if len(kept) < len(entries):
        out.append(f"(… {len(entries) - len(kept)} older names not shown)")
    out.extend(kept)
    if modules:
        out.append("modules: " + _cut(", ".join(modules), 300))
    return "\n".join(out)


def _short_or_type(value: Any) -> str:
    try:
        return _short(value)
    except KeyboardInterrupt:
        raise
    except BaseException:  # a property that raises (even SystemExit): the type is still worth knowing
        return _type_name(value)


def _short(value: Any) -> str:
    """``DataFrame 100×3``, ``ndarray (3, 4) float64``, ``int = 3``, ``list (5 items)``."""
    kind = _type_name(value)
    if _is(value, "pandas", "DataFrame"):
        rows, cols = value.shape
        return f"DataFrame {rows}×{cols}"
    if _is(value, "pandas", "Series"):
        return f"Series ({len(value)} values, {value.dtype})"
    if _is(value, "numpy", "ndarray"):
        return f"ndarray {tuple(value.shape)} {value.dtype}"
    if isinstance(value, (bool, int, float, complex)) or value is None:
        return f"{kind} = {_safe_repr(value, 40)}"
    if isinstance(value, str):
        return "str"  # never the value (it may be a password), nor its length (a temp path's varies)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return f"{kind} ({len(value)} items)"
    if isinstance(value, type):
        return "class"
    if callable(value) and hasattr(value, "__name__"):
        return "function" + _cut(_signature(value), 80)
    return kind


def build_context(
    text: str,
    namespace: Mapping[str, Any],
    hidden: Iterable[str] = (),
    *,
    with_namespace: bool = True,
) -> list[dict[str, Any]]:
    """Context blocks for a request: each known ``@name``, then the namespace summary.

    Unknown names are left as they are (the text itself is never changed).
    """
    blocks: list[dict[str, Any]] = []
    for name in mentions(text)[:MAX_MENTIONS]:
        if name in namespace:
            blocks.append({"kind": "variable", "name": name, "text": describe(name, namespace[name])})
    if with_namespace:
        summary = namespace_summary(namespace, hidden)
        if summary:
            blocks.append({"kind": "namespace", "text": summary})
    return blocks


def render_context(blocks: Iterable[Any], *, with_namespace: bool = True) -> str:
    """The text appended to a user message: variables first, then the namespace."""
    variables: list[str] = []
    namespace: list[str] = []
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("text"), str):
            continue
        if block.get("kind") == "variable":
            variables.append(block["text"])
        elif block.get("kind") == "namespace" and with_namespace:
            namespace.append(block["text"])
    parts: list[str] = []
    if variables:
        parts.append("[Variables the user referred to with @name, from the live kernel]\n" + "\n\n".join(variables))
    if namespace:
        parts.append("[The user's kernel namespace: names and types]\n" + "\n".join(namespace))
    return "\n\n".join(parts)


def _is(value: Any, package: str, cls: str) -> bool:
    kind = type(value)
    return kind.__name__ == cls and kind.__module__.split(".")[0] == package


def _type_name(value: Any) -> str:
    kind = type(value)
    module = kind.__module__
    return kind.__name__ if module in ("builtins", "__main__") else f"{module.split('.')[0]}.{kind.__name__}"


def _safe_repr(value: Any, limit: int) -> str:
    try:
        text = repr(value)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit or GeneratorExit from a __repr__ too
        return f"<repr failed: {type(exc).__name__}>"
    return _cut(text, limit)


def _signature(func: Any) -> str:
    import inspect

    try:
        return str(inspect.signature(func))
    except (TypeError, ValueError):
        return "(…)"


def _first_doc_line(func: Any) -> str:
    doc = (getattr(func, "__doc__", None) or "").strip().splitlines()
    return f"\n{doc[0][:200]}" if doc else ""


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f" … ({len(text) - limit} more characters)"
