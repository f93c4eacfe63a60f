"""Which version of a session file an object last read or wrote.

A save compares this with what is on disk now to tell its own file from one another
writer changed (``merge``), and a journal record from a rewrite (``changes``); the
message objects are kept by identity, so the comparison never walks the history.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from hermes_nb.store.journal import JournalInfo

__all__ = ["NO_JOURNAL", "Base", "Seen", "extends"]

NO_JOURNAL = JournalInfo()


class Seen(Sequence[Any]):
    """The message objects a base saw, in chunks shared with the base before it.

    A save after a run appended k messages records k references, not the whole
    history again (a checkpoint of a 100,000-message session copied 100,000 of them).
    Stored messages are never changed in place (undo and retry replace the list), so
    a list that still starts with the previous base's objects (checked at both ends
    and in the middle, as ``changes`` checks it) holds them all.
    """

    __slots__ = ("_chunks", "_len")

    def __init__(self, chunks: tuple[tuple[Any, ...], ...]) -> None:
        self._chunks = chunks
        self._len = sum(len(c) for c in chunks)

    @classmethod
    def of(cls, messages: list[Any], previous: Sequence[Any] | None = None) -> Seen:
        """``messages`` as they are now, sharing what ``previous`` already holds."""
        if isinstance(previous, Seen) and extends(messages, previous):
            added = tuple(messages[len(previous) :])
            chunks = previous._chunks + ((added,) if added else ())
            if len(chunks) > _MAX_CHUNKS:  # a flat copy now and then: amortised O(added)
                chunks = (tuple(itertools.chain.from_iterable(chunks)),)
            return cls(chunks)
        return cls((tuple(messages),))

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        return itertools.chain.from_iterable(self._chunks)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Any, ...]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return tuple(self)[index]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(index)
        for chunk in self._chunks:
            if index < len(chunk):
                return chunk[index]
            index -= len(chunk)
        raise IndexError(index)  # pragma: no cover - the length says otherwise


#: chunks a ``Seen`` may hold before it is flattened
_MAX_CHUNKS = 32


def extends(messages: list[Any], base: Sequence[Any]) -> bool:
    n = len(base)
    if len(messages) < n:
        return False
    return n == 0 or (messages[0] is base[0] and messages[n - 1] is base[n - 1] and messages[n // 2] is base[n // 2])


@dataclass(frozen=True)
class Base:
    """The version of the file a session object last read or wrote."""

    signature: tuple[int, int, int]
    messages: Sequence[Any]  # the message objects themselves (``Seen``): compared by identity
    history_rev: int
    fields: dict[str, Any]
    seq: int = 0
    #: The file's ``journal_base`` token (None: an older file no journal may extend).
    token: str | None = None
    #: The journal beside the file, as this object last read or wrote it.
    journal: JournalInfo = NO_JOURNAL
