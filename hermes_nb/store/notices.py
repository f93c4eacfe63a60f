"""One-line notices for the user from layers that must not print.

The store (a corrupt file moved aside, a session that is read-only here) and the
restore run outside any cell's output; they queue a line here, and the magic prints
each one once in the cell that follows. Each is also logged on ``hermes_nb.store``.
"""

from __future__ import annotations

import collections
import logging

__all__ = ["consume_warnings", "notice"]

log = logging.getLogger("hermes_nb.store")

_NOTICES: collections.deque[str] = collections.deque(maxlen=100)


def notice(message: str) -> None:
    """Queue one line for the user (printed by the magic, see ``consume_warnings``)."""
    log.warning("%s", message)
    _NOTICES.append(message)


def consume_warnings() -> list[str]:
    """Notices queued since the last call (each returned once), oldest first."""
    out: list[str] = []
    while True:
        try:
            out.append(_NOTICES.popleft())
        except IndexError:
            return out
