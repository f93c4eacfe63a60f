"""The bounded in-memory session cache (``models.SESSIONS``).

Least recently used sessions are dropped past ``maxsize``, except a session whose run
is active or pending: its object is the one the running stream writes to, and a
second copy loaded later would diverge from it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any

__all__ = ["SessionCache"]


def _pinned(session: Any) -> bool:
    return bool(
        getattr(session, "active_stream_id", None) or getattr(session, "pending_user_message", None)
    )


class SessionCache(MutableMapping[str, Any]):
    """Dict-like LRU: reads (``[]``, ``get``) count as use; inserts evict unpinned entries."""

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.RLock()

    def __getitem__(self, key: str) -> Any:
        with self._lock:
            value = self._data[key]
            self._data.move_to_end(key)
            return value

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            self._evict(keep=key)

    def __delitem__(self, key: str) -> None:
        with self._lock:
            del self._data[key]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def _evict(self, keep: str) -> None:
        """Drop least recently used unpinned entries; never ``keep``, the one just stored."""
        excess = len(self._data) - self.maxsize
        if excess <= 0:
            return
        unpinned = [k for k, s in self._data.items() if k != keep and not _pinned(s)]
        for key in unpinned[:excess]:
            del self._data[key]

    def __repr__(self) -> str:
        return f"SessionCache({list(self._data)!r}, maxsize={self.maxsize})"
