"""Reading session files whose fields have the wrong types.

A file edited by hand, written by another tool or by a buggy version may hold
``"title": 42``, a message that is not an object or ``tool_calls`` as a string. One
such field must not make the whole session (or the whole folder) unreadable, nor
break every turn. Each bad value is set aside under ``invalid_fields`` (kept in the
file, so nothing is lost) and the field gets a usable value; the caller tells the user
which fields were set aside.
"""

from __future__ import annotations

from typing import Any

__all__ = ["INVALID_KEY", "clean_message", "clean_session_dict"]

#: Where set-aside values live: at the top level of the session file.
INVALID_KEY = "invalid_fields"

_TEXT_OR_NONE = (
    "notebook", "model", "active_stream_id", "pending_user_message", "parent_session_id",
)  # fmt: skip
_FLOATS = ("created_at", "updated_at", "estimated_cost")
_INTS = ("input_tokens", "output_tokens", "history_rev", "schema_version")


def _number(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (int or float), or ``None`` when it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return kind(value)
    if isinstance(value, str):
        try:
            return kind(float(value)) if kind is int else kind(value)
        except ValueError:
            return None
    return None


def clean_message(message: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """A usable copy of one message and the names of the fields set aside in it.

    ``None`` when the message is not an object with a text ``role``.
    """
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        return None, ["message"]
    bad: list[str] = []
    out = message
    content = message.get("content")
    if content is not None and not isinstance(content, (str, list)):
        out = {**out, "content": str(content), "invalid_content": content}
        bad.append("content")
    calls = message.get("tool_calls")
    if calls is not None and not (
        isinstance(calls, list)
        and all(isinstance(c, dict) and isinstance(c.get("function", {}), dict) for c in calls)
    ):
        out = {k: v for k, v in out.items() if k != "tool_calls"}
        out["invalid_tool_calls"] = calls
        bad.append("tool_calls")
    call_id = message.get("tool_call_id")
    if call_id is not None and not isinstance(call_id, str):
        out = {**out, "tool_call_id": str(call_id)}
        bad.append("tool_call_id")
    return out, bad


def _plain(message: Any) -> bool:
    """Whether ``message`` is a text message ``clean_message`` would keep unchanged
    (the common case, checked without building anything: a 100,000-message file)."""
    return (
        type(message) is dict
        and type(message.get("role")) is str
        and type(message.get("content")) is str
        and "tool_calls" not in message
        and "tool_call_id" not in message
    )


def _clean_messages(value: list[Any], name: str, invalid: dict[str, Any]) -> tuple[list[Any], list[str]]:
    kept: list[Any] = []
    dropped: list[Any] = []
    notes: list[str] = []
    for i, message in enumerate(value):
        if _plain(message):  # nearly every message: kept as it is, no call per field
            kept.append(message)
            continue
        cleaned, bad = clean_message(message)
        if cleaned is None:
            dropped.append(message)
            notes.append(f"{name}[{i}]")
            continue
        notes += [f"{name}[{i}].{b}" for b in bad]
        kept.append(cleaned)
    if dropped:
        invalid[name] = invalid.get(name, []) + dropped if isinstance(invalid.get(name), list) else dropped
    return kept, notes


def clean_session_dict(data: dict[str, Any], defaults: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``data`` with every field of a wrong type replaced by a usable value.

    ``defaults`` are the dataclass defaults. Returns the cleaned copy (the set-aside
    values under ``INVALID_KEY``) and the names of what was set aside.
    """
    out = dict(data)
    previous = data.get(INVALID_KEY)
    invalid: dict[str, Any] = dict(previous) if isinstance(previous, dict) else {}
    notes: list[str] = []

    def set_aside(name: str, replacement: Any) -> None:
        invalid[name] = data[name]
        out[name] = replacement
        notes.append(name)

    for name in data:
        value = data[name]
        if name == "title" and not isinstance(value, str):
            set_aside(name, str(value) if isinstance(value, (int, float)) else defaults[name])
        elif name in _TEXT_OR_NONE and value is not None and not isinstance(value, str):
            set_aside(name, None)
        elif name in _FLOATS or name in _INTS or name == "pending_started_at":
            kind = int if name in _INTS else float
            number = _number(value, kind)
            if value is None:  # "not set": the default, nothing to report
                out[name] = None if name == "pending_started_at" else defaults[name]
            elif number is None:
                set_aside(name, None if name == "pending_started_at" else defaults[name])
            elif type(value) is not kind:
                out[name] = number  # 3 for 3.0 and "3": same value, no notice
        elif name == "manual_title" and not isinstance(value, bool):
            set_aside(name, bool(value) if isinstance(value, (int, float)) else False)
        elif name == "pending_partial_text" and not isinstance(value, str):
            set_aside(name, "")
        elif name == "active_stream_owner" and value is not None and not isinstance(value, dict):
            set_aside(name, None)
        elif name == "pending_attachments" and not isinstance(value, list):
            set_aside(name, [])
        elif name in ("messages", "pending_messages"):
            if not isinstance(value, list):
                set_aside(name, [])
            else:
                out[name], bad = _clean_messages(value, name, invalid)
                notes += bad
    if invalid:
        out[INVALID_KEY] = invalid
    return out, notes
