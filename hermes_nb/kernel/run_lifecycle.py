"""One run's lifecycle: start, checkpoint, finish, fail, cancel, restore.

A run is what happens between a user's request and the agent's final answer. Its
state lives in two places: the agent's ``TurnState`` (written by the agent thread)
and the session file (written here). Every write goes through the canonical cached
``Session`` object while holding the session's agent lock, so whatever is on disk
is a state that really existed in memory. The lock is not reentrant: no function
here that holds it calls another that takes it.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import filelock

from hermes_nb.agent.turn import TurnSnapshot, TurnState
from hermes_nb.errors import HermesError, RunClaimedError, SessionNotFoundError
from hermes_nb.kernel.titles import DEFAULT_TITLE, run_name
from hermes_nb.kernel.turn_history import (
    CANCELLED_RESULT,
    INTERRUPTED_RESULT,
    marker,
    turn_messages,
)
from hermes_nb.safety.redact import redact
from hermes_nb.store import locks, runmarks, sessions
from hermes_nb.store.merge import PENDING
from hermes_nb.ui.restore_report import RestoreReport, count_saved

__all__ = [
    "ACTIVE_RUNS",
    "Checkpointer",
    "RestoreReport",
    "Run",
    "cancel_stream",
    "count_saved",
    "repair_if_dead",
    "restore_interrupted",
    "restore_session",
]

log = logging.getLogger("hermes_nb.kernel.run_lifecycle")

#: runs alive in this process, by stream id
ACTIVE_RUNS: dict[str, Run] = {}
_ACTIVE_RUNS_LOCK = threading.Lock()

#: A run's final save rewrites the session file (folding the journal into it) once the
#: journal is this many times the file's size: a run then writes about (1 + 1/FOLD_AT)
#: times what it added, amortised, and a reader reads at most 1 + FOLD_AT times the file.
FOLD_AT = 0.5

def _clear_pending(session: sessions.Session) -> None:
    session.active_stream_id = None
    session.active_stream_owner = None
    session.pending_user_message = None
    session.pending_attachments = []
    session.pending_started_at = None
    session.pending_messages = []
    session.pending_partial_text = ""


#: seconds the checkpoint thread waits for word that the request has left before it
#: writes the index row and flushes the request's record anyway
PUBLISH_DELAY = 0.2


class Checkpointer(threading.Thread):
    """Saves the turn in progress when it changes: at once when poked (after each
    tool result), and every ``interval`` seconds while text streams.

    It first flushes the request's record to disk and makes sure the index row says
    pending (``Run.publish_start``, ``Run.flush_start``), once the request has left
    (``request_left``): done earlier, its Python work took the GIL from the thread
    sending the request.
    """

    def __init__(self, run: Run, interval: float = 2.0) -> None:
        super().__init__(name=f"hermes_nb-checkpoint-{run.stream_id}", daemon=True)
        self._run = run
        self._interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._left = threading.Event()

    def poke(self) -> None:
        self._wake.set()

    def request_left(self) -> None:
        self._left.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._left.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        self._left.wait(PUBLISH_DELAY)
        if not self._stopping.is_set():  # else the final save writes it all
            self._run.publish_start()
            self._run.flush_start()
        while not self._stopping.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._run.checkpoint()
            except Exception:  # a failed checkpoint must not kill the run
                log.exception("checkpoint of session %s failed", self._run.session_id)


class Run:
    """One turn of one session, from the pending save to the final write-back."""

    def __init__(
        self,
        session_id: str,
        user_message: str | None,
        *,
        attachments: list[Any] | None = None,
        checkpoint_interval: float = 2.0,
        title: str | None = None,
    ) -> None:
        self.session_id = session_id
        self.user_message = user_message
        #: the title an untitled session gets as the run starts, so that a run
        #: interrupted before its first answer is named by its request
        self.title = title
        self.attachments = list(attachments or [])
        self.stream_id = uuid.uuid4().hex[:16]
        self.turn = TurnState()
        self.cancel_event = threading.Event()
        self.started_at = time.time()
        self.checkpointer = Checkpointer(self, checkpoint_interval)
        self._lock = locks._get_session_agent_lock(session_id)
        self._run_lock: locks.RunLock | None = None
        self._saved_version = -1
        self._published = False
        self._flushed = False
        self._ended = False

    @property
    def session(self) -> sessions.Session:
        return sessions.get_session(self.session_id)

    # -- start ---------------------------------------------------------------

    def start(self, *, checkpoints: bool = True) -> None:
        """Claim the run across kernels, save the pending request, start checkpoints.

        ``checkpoints=False`` leaves the checkpoint thread to ``start_checkpoints``: a
        cell starts it once its agent thread runs, so the request leaves sooner (the
        request is on disk already; the first checkpoint can only follow a change).
        """
        self._run_lock = sessions.store().run_lock(self.session_id)
        try:
            self._run_lock.acquire(timeout=0)
        except filelock.Timeout:
            raise RunClaimedError(
                f"Session {self.session_id} has a run in progress in another kernel; "
                "wait for it or use another session (%agent new)."
            ) from None
        try:
            self._mark_pending()
        except BaseException:
            self._release()
            raise
        with _ACTIVE_RUNS_LOCK:
            ACTIVE_RUNS[self.stream_id] = self
        if checkpoints:
            self.start_checkpoints()

    def start_checkpoints(self) -> None:
        """Start saving the turn in progress (a poke made before is not lost)."""
        self.checkpointer.start()

    def _mark_pending(self) -> None:
        with self._lock:
            session = sessions.get_session(self.session_id, refresh=True)
            if session.active_stream_id:
                if session.active_stream_id in ACTIVE_RUNS:
                    raise RunClaimedError(
                        f"Session {self.session_id} already has a run in progress; "
                        "stop it first (interrupt the kernel or %agent cancel)."
                    )
                # We hold the run lock, so its owner is gone: keep what it saved.
                _repair(session, "interrupted", INTERRUPTED_RESULT)
            before = {name: getattr(session, name) for name in (*PENDING, "title")}
            if self.title and not session.manual_title and session.title in ("", DEFAULT_TITLE):
                session.title = self.title
            session.active_stream_id = self.stream_id
            session.active_stream_owner = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started_at": self.started_at,
            }
            session.pending_user_message = self.user_message
            session.pending_attachments = list(self.attachments)
            session.pending_started_at = self.started_at
            session.pending_messages = []
            session.pending_partial_text = ""
            # The mark first: a crash between the two writes then leaves a mark over a
            # file that is not pending (a restore looks and removes it), never a
            # pending file that a restore cannot find. The index row (publish_start)
            # and the journal's flush to disk (flush_start) wait until the request is
            # on its way: a kernel's death loses nothing the OS holds.
            session.updated_at = time.time()
            try:
                try:
                    runmarks.put(sessions.store().folder, self.session_id)
                except OSError as exc:
                    raise sessions.write_error(sessions.store().folder, exc) from None
                # one small record appended to the journal, not the whole session file
                session.save_changes(skip_index=True, touch_updated_at=False, sync=False)
            except BaseException:
                # Nothing reached the disk: memory must not claim a run either, or a
                # later command would "recover" a turn that was never saved. A mark
                # left behind only costs a restore one look.
                for name, value in before.items():
                    setattr(session, name, value)
                raise

    def publish_start(self) -> None:
        """Let the index say pending (for the sessions list and the page; a restore
        finds the run by its mark), and the checkpoint thread flush the request.

        Called once the request has left: by the cell thread before it shows the run
        (so a page told of the run lists it as running), else by the checkpoint
        thread after ``PUBLISH_DELAY``. Done once; errors are logged, never raised.
        """
        self.checkpointer.request_left()
        self._once("_published", lambda session: session.save_index_row(sync_dir=False))

    def flush_start(self) -> None:
        """Flush the request's record to disk (appended without waiting for the disk:
        a kernel's death cannot lose it, a power cut could). Checkpoint thread."""
        self._once("_flushed", lambda session: session.flush_journal())

    def _once(self, flag: str, step: Callable[[sessions.Session], None]) -> None:
        try:
            with self._lock:
                if getattr(self, flag):
                    return
                setattr(self, flag, True)
                session = self.session
                if session.active_stream_id == self.stream_id:
                    step(session)
        except Exception:  # the run goes on; its final save writes it all
            log.exception("could not finish the start of session %s's run", self.session_id)

    def move_to(self, old: sessions.Session, new: sessions.Session) -> None:
        """Carry this run's pending request from ``old`` into ``new`` (context
        compression). The agent lock, shared by both ids, is held by the caller.

        ``new`` is saved with the request before ``old`` lets go of it: a crash in
        between leaves it in both, never in neither.
        """
        claim = sessions.store().run_lock(new.session_id)
        claim.acquire(timeout=0)  # a brand-new id: nobody else can hold it
        for name in PENDING:
            setattr(new, name, copy.deepcopy(getattr(old, name)))
        runmarks.put(sessions.store().folder, new.session_id)
        new.save()
        _clear_pending(old)
        old.save()
        runmarks.clear(sessions.store().folder, old.session_id)
        previous, self._run_lock = self._run_lock, claim
        self.session_id = new.session_id
        if previous is not None:
            previous.release()

    def history(self) -> list[dict[str, Any]]:
        """The session's messages as the agent should see them at the start.

        A copy of the list, not of the messages: stored messages are never changed in
        place (undo and retry replace the list), and the agent makes its own clean
        copies for the provider, so a deep copy of a long history would be wasted.
        """
        with self._lock:
            return list(self.session.messages)

    # -- during the run --------------------------------------------------------

    def poke(self) -> None:
        """Ask for a checkpoint now (after a tool result)."""
        self.checkpointer.poke()

    def checkpoint(self) -> bool:
        """Save the turn in progress, unless nothing changed or the run is stale.

        What changed in the turn since the last checkpoint is appended to the journal
        beside the session file (``journal.py``), so a checkpoint costs the change,
        not the session.
        """
        snap = self.turn.snapshot()
        if snap.version == self._saved_version:
            return False
        with self._lock:
            session = self.session
            if session.active_stream_id != self.stream_id:
                return False
            session.pending_messages = snap.messages
            session.pending_partial_text = snap.partial_text
            session.save_changes(skip_index=True, touch_updated_at=False)
            self._saved_version = snap.version
        return True

    # -- the end ---------------------------------------------------------------

    def finish(self, result: Any) -> bool:
        """Write the turn into the history (``result`` is the agent's TurnResult).

        Returns False when the run was stale (cancelled or superseded meanwhile):
        then nothing is written, so newer state is never overwritten.
        """
        snap = self._end()
        stop = getattr(result, "stop_reason", "complete")
        new = turn_messages(
            self.user_message,
            self.started_at,
            result.messages,
            snap.partial_text if stop != "complete" else "",
            CANCELLED_RESULT,
            context=self.attachments,
            run_id=self.stream_id,
        )
        if stop == "cancelled":
            new.append(marker("cancelled", "Run cancelled; the output above was kept."))
        elif stop == "error":
            new.append(marker("error", redact(f"Run failed: {result.error}")))
        elif stop == "turn_limit":
            new.append(
                marker(
                    "turn_limit",
                    "Run stopped at the turn limit: %agent resume lets it go on, "
                    "or raise --max-turns.",
                )
            )
        elif not any(
            m.get("role") == "assistant" and (m.get("content") or m.get("tool_calls"))
            for m in result.messages
        ):
            new.append(marker("empty", "The model returned an empty reply."))
        return self._write_back(new, result)

    def fail(self, error: BaseException) -> bool:
        """Keep the request and what the agent completed, then an error marker."""
        snap = self._end()
        new = turn_messages(
            self.user_message,
            self.started_at,
            snap.messages,
            snap.partial_text,
            CANCELLED_RESULT,
            context=self.attachments,
            run_id=self.stream_id,
        )
        new.append(marker("error", redact(f"Run failed: {error}")))
        return self._write_back(new, None)

    def abandon(self) -> None:
        """Let go of a run whose agent would not stop (after ``cancel_stream``)."""
        self.checkpointer.stop(timeout=1.0)
        self._release()

    def _end(self) -> TurnSnapshot:
        self.checkpointer.stop()
        return self.turn.snapshot()

    def _write_back(self, new: list[dict[str, Any]], result: Any) -> bool:
        try:
            with self._lock:
                session = self.session
                if session.active_stream_id != self.stream_id:
                    log.info("run %s is stale; its write-back is dropped", self.stream_id)
                    return False
                session.messages.extend(new)
                if result is not None:
                    session.input_tokens += int(result.input_tokens or 0)
                    session.output_tokens += int(result.output_tokens or 0)
                    session.estimated_cost += float(result.cost or 0.0)
                _clear_pending(session)
                # the finished turn is appended; the file is rewritten once the journal
                # has grown past FOLD_AT times its size
                session.save_changes(fold_at=FOLD_AT)
                runmarks.clear(sessions.store().folder, session.session_id)
                return True
        finally:
            self._release()

    def _release(self) -> None:
        if self._ended:
            return
        self._ended = True
        with _ACTIVE_RUNS_LOCK:
            ACTIVE_RUNS.pop(self.stream_id, None)
        if self._run_lock is not None:
            self._run_lock.release()


def _repair(session: sessions.Session, kind: str, open_result: str) -> RestoreReport:
    """Turn a session's checkpointed, unfinished turn into history (lock held)."""
    completed = list(session.pending_messages or [])
    partial = session.pending_partial_text or ""
    started = session.pending_started_at
    counts = count_saved(completed, partial)
    report = RestoreReport(
        session_id=session.session_id,
        title=run_name(session.title, session.pending_user_message),
        started_at=started,
        had_user_message=session.pending_user_message is not None,
        tool_calls=counts.tool_calls,
        tool_results=counts.tool_results,
        text_chars=counts.text_chars,
        run_id=session.active_stream_id,
    )
    new = turn_messages(
        session.pending_user_message,
        started,
        completed,
        partial,
        open_result,
        recovered=True,
        context=list(session.pending_attachments or []),
        run_id=session.active_stream_id,
    )
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    what = "interrupted by a kernel restart" if kind == "interrupted" else "cancelled"
    new.append(marker(kind, f"Run started {when} was {what}; kept: {report.kept()}."))
    before = {name: getattr(session, name) for name in ("messages", *PENDING)}
    session.messages = session.messages + new
    _clear_pending(session)
    try:
        session.save()
    except BaseException:  # memory keeps saying what the disk says
        for name, value in before.items():
            setattr(session, name, value)
        raise
    runmarks.clear(sessions.store().folder, session.session_id)
    return report


def cancel_stream(stream_id: str) -> bool:
    """Cancel a run by its stream id: keep its partial output, mark it cancelled.

    Works for a run alive in this process (its newest state is used, and its own
    write-back then finds itself stale) and for one only on disk.
    """
    live = ACTIVE_RUNS.get(stream_id)
    if live is not None:
        live.cancel_event.set()
        session_id = live.session_id
    else:
        found = _find_session_by_stream(stream_id)
        if found is None:
            return False
        session_id = found
    with locks._get_session_agent_lock(session_id):
        session = sessions.get_session(session_id)
        if session.active_stream_id != stream_id:
            return False
        if live is not None:
            snap = live.turn.snapshot()
            session.pending_messages = snap.messages
            session.pending_partial_text = snap.partial_text
        _repair(session, "cancelled", CANCELLED_RESULT)
    return True


def _find_session_by_stream(stream_id: str) -> str | None:
    for row in sessions.list_sessions(include_all=True):
        if not row.pending:
            continue
        try:
            session = sessions.get_session(row.id)
        except HermesError:
            continue
        if session.active_stream_id == stream_id:
            return session.session_id
    return None


def repair_if_dead(session_id: str) -> bool:
    """Turn a pending run whose kernel is gone into history, as a restart would.

    Returns False when the run is alive (in this or another kernel); True when
    nothing is pending any more.
    """
    session = sessions.get_session(session_id)
    if session.active_stream_id in ACTIVE_RUNS:
        return False
    restore_session(session_id)
    return not sessions.get_session(session_id).active_stream_id


def restore_interrupted(notebook: str | None) -> list[RestoreReport]:
    """Repair every run of this notebook that a dead kernel left pending.

    One odd session (file missing, unreadable, read-only, ...) never stops the
    others: it is skipped with a notice, and a row whose file is gone is dropped.
    """
    reports: list[RestoreReport] = []
    rows = sessions.list_sessions(include_all=True)
    marked = runmarks.marked(sessions.store().folder)  # a run that died before its row said pending
    candidates = [
        r.id for r in rows if (notebook is None or r.notebook == notebook) and (r.pending or r.id in marked)
    ]
    candidates += sorted(marked - {r.id for r in rows})  # marked, with no row at all
    for session_id in candidates:
        try:
            report = restore_session(session_id)
        except SessionNotFoundError:
            sessions.forget_session(session_id)
            runmarks.clear(sessions.store().folder, session_id)
            continue
        except HermesError as exc:
            sessions.notice(f"hermes_nb: could not restore the interrupted run of session {session_id}: {exc}")
            continue
        except Exception as exc:  # one session must never break %load_ext
            log.exception("restoring session %s failed", session_id)
            sessions.notice(f"hermes_nb: could not restore the interrupted run of session {session_id}: {exc!r}")
            continue
        if report is not None:
            reports.append(report)
    return reports


def restore_session(session_id: str) -> RestoreReport | None:
    """Repair one session's run if a dead kernel left it pending (else None).

    A run is interrupted when its run lock can be taken: the OS frees that lock
    when its kernel dies. A run still alive in another kernel is left alone, and
    the lock is held while repairing so two kernels never repair the same run.
    """
    lock = sessions.store().run_lock(session_id)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        log.info("session %s is running in another kernel; left alone", session_id)
        return None
    try:
        with locks._get_session_agent_lock(session_id):
            sessions.store().sessions.pop(session_id, None)  # re-read: another kernel may have repaired it
            session = sessions.get_session(session_id)
            if session.active_stream_id and session.active_stream_id not in ACTIVE_RUNS:
                return _repair(session, "interrupted", INTERRUPTED_RESULT)
            if not session.pending:
                _refresh_row(session)
                runmarks.clear(sessions.store().folder, session_id)
            return None
    finally:
        lock.release()


def _refresh_row(session: sessions.Session) -> None:
    """The index said pending but the file does not: make the row say what the file says."""
    try:
        from hermes_nb.store import index as _index

        _index.upsert_row(sessions.store().index_file, sessions.store().folder, session.index_row())
    except OSError as exc:
        log.warning("could not update the index row of %s: %s", session.session_id, exc)
