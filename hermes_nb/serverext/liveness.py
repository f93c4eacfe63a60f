"""Whether a pending run has a live owner: ``hermes_nb.store.liveness``, shared with the
kernel side (which asks it before deleting a session)."""

from __future__ import annotations

from hermes_nb.store.liveness import PROC_LOCKS, LockTable, held_locks

__all__ = ["PROC_LOCKS", "LockTable", "held_locks"]
