"""Merging what another kernel saved into our copy of a session.

Two kernels may take turns in one session: kernel A answers turn 1, kernel B turn 2,
then A turn 3. A's copy was read before turn 2, so writing it as it is would drop turn
2. ``Session.save`` therefore notices a file that changed since this copy last read or
wrote it (its ``Base``) and merges three-way: whatever we changed since the base is
applied on top of what is on disk now.

* Messages are append-only between undo/retry (which bump ``history_rev``). If we only
  appended, the result is theirs plus our new messages; if only they appended and we
  rewrote history, ours plus their new ones. Both rewrote: ``SessionChangedError``.
* Token counters add up both sides' increments; the pending run's fields move as one
  group; any other field keeps our value if we changed it, else takes theirs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from hermes_nb.errors import SessionChangedError
from hermes_nb.store.journal import JournalInfo
from hermes_nb.store.session import FIELD_NAMES, Session
from hermes_nb.store.versions import NO_JOURNAL, Base, Seen

__all__ = ["COUNTERS", "PENDING", "Base", "Seen", "merge", "mergeable", "snapshot"]

PENDING = (
    "active_stream_id", "active_stream_owner", "pending_user_message", "pending_attachments",
    "pending_started_at", "pending_messages", "pending_partial_text",
)  # fmt: skip
COUNTERS = ("input_tokens", "output_tokens", "estimated_cost")
_FIXED = ("session_id", "messages", "history_rev", "schema_version")


def _value(session: Session, name: str) -> Any:
    return getattr(session, name)


def snapshot(
    session: Session,
    signature: tuple[int, int, int],
    seq: int = 0,
    token: str | None = None,
    journal: JournalInfo = NO_JOURNAL,
) -> Base:
    """The base for ``session`` as it is now, stored in a file with ``signature``
    (and the journal ``journal``, which extends it when its token is ``token``)."""
    values: dict[str, Any] = {}
    for name in (*FIELD_NAMES, "extra"):
        if name in _FIXED:
            continue
        value = _value(session, name)
        if isinstance(value, (dict, list)):
            value = copy.copy(value)  # one level: what our code changes in place
        values[name] = value
    previous = session._base
    seen = previous.messages if previous is not None and previous.history_rev == session.history_rev else None
    return Base(signature, Seen.of(session.messages, seen), session.history_rev, values, seq, token, journal)


def _appended_only(messages: list[Any], base: Sequence[Any]) -> bool:
    return len(messages) >= len(base) and all(a is b for a, b in zip(messages, base, strict=False))


def mergeable(ours: Session, theirs: Session, base: Base) -> bool:
    """Whether at most one side rewrote the message history since ``base``."""
    if ours.history_rev == base.history_rev and _appended_only(ours.messages, base.messages):
        return True
    return ours.history_rev > base.history_rev == theirs.history_rev and len(theirs.messages) >= len(
        base.messages
    )


def merge(ours: Session, theirs: Session, base: Base) -> None:
    """Make ``ours`` the merge of ``theirs`` (now on disk) and our changes since ``base``."""
    if ours.history_rev == base.history_rev and _appended_only(ours.messages, base.messages):
        messages = theirs.messages + ours.messages[len(base.messages) :]
        history_rev = theirs.history_rev
    elif mergeable(ours, theirs, base):
        messages = ours.messages + theirs.messages[len(base.messages) :]
        history_rev = ours.history_rev
    else:
        raise SessionChangedError(
            f"Session {ours.session_id} was rewritten (undo/retry) in another kernel while "
            f"this kernel changed it too; nothing was saved. Run `%agent use {ours.session_id}` "
            "to reload it, then try again."
        )
    for name, before in base.fields.items():
        if name in PENDING:
            continue
        mine, other = _value(ours, name), _value(theirs, name)
        if name in COUNTERS:
            setattr(ours, name, other + (mine - before))
        elif mine == before:
            setattr(ours, name, copy.copy(other) if isinstance(other, (dict, list)) else other)
    if all(_value(ours, name) == base.fields[name] for name in PENDING):
        for name in PENDING:
            setattr(ours, name, _value(theirs, name))
    ours.messages = messages
    ours.history_rev = history_rev
