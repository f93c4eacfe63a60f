"""The ``%agent`` line commands: sessions, history, undo/retry/resume, export, status.

Each command is a function of the loaded magic (``AgentMagics`` parses the line and
picks the function ``cmd_<name>``), so the magic keeps to reading arguments, config
and running requests, and each command reads top to bottom on its own. A command sees
the magic through :class:`CommandHost`, the part of it commands use, so this module
does not import the magic that imports it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from IPython.core.error import UsageError

from hermes_nb.kernel import run_lifecycle, turn_history
from hermes_nb.safety.redact import redact
from hermes_nb.store import session_ops, sessions

__all__ = ["HELP", "CommandHost", "show_restored"]

HELP = """\
%%agent [--model SPEC] [--new] [--session ID] [--no-tools] [--max-turns N]
<your request>            ask the agent; the session continues across cells

%agent sessions [--all]   this notebook's sessions (--all: every one in the folder)
%agent new [TITLE]        start a new session (dropped if left empty and untitled)
%agent use ID|TITLE       switch to a session (an id prefix or a title will do)
%agent history            the current session's conversation, turns numbered
%agent undo               remove the last request and everything after it
%agent retry              remove the last request and send it again
%agent resume [ID]        continue a run that was interrupted, cancelled, failed or
                          stopped at the turn limit
%agent cancel             mark a run left pending by a dead kernel as cancelled
%agent title TEXT         rename the current session
%agent delete ID          move a session to the trash
%agent fork [N]           new session from the first N turns (default: all)
%agent export [ID] [--format md|json] [--output PATH]
%agent model [SPEC]       show or set the model
%agent status             model, folder, session and run state
%agent mcp                MCP servers, their state and their tools
%agent mcp restart NAME   stop and start an MCP server
%agent mcp trust [NAME]   approve the notebook folder's MCP servers (untrust: withdraw)
%agent help               this text"""


class CommandHost(Protocol):
    """What the commands read and call on the loaded magic (``AgentMagics``)."""

    model: str
    notebook: str | None
    current_session_id: str | None
    mcp_servers: dict[str, Any]
    tool_policies: dict[str, Any]
    mcp_start_timeout: float

    def _model_spec(self, override: str | None = None) -> str: ...

    def _provider(self, spec: str) -> Any: ...

    def _run(self, text: str | None, *, model: str | None = None, own_cell: bool = False) -> None: ...

    def _alone_in_cell(self) -> bool: ...

    def _folder(self) -> Path: ...

    def _switch(self, session_id: str | None) -> None: ...

    def _new_session(self, title: str | None) -> sessions.Session: ...

    def _use(self, query: str) -> sessions.Session: ...

    def _use_summary(self, query: str) -> sessions.IndexRow: ...

    def _require_session(self) -> sessions.Session: ...


_RUN_ELSEWHERE = (
    "A run of this session is still going in another kernel: interrupt that kernel "
    "(or wait for it to finish), then try again here."
)


def cmd_help(m: CommandHost, opts: Any) -> None:
    print(HELP)


def cmd_sessions(m: CommandHost, opts: Any) -> None:
    rows = sessions.list_sessions(notebook=m.notebook, include_all=opts.all)
    if not rows:
        print("No sessions yet. Ask something with %%agent.")
        return
    from hermes_nb.kernel.titles import DEFAULT_TITLE

    for row in rows:
        if row.id != m.current_session_id and not row.message_count and not row.pending and row.title == DEFAULT_TITLE:
            continue  # an empty, untitled session: nothing to come back to
        mark = "*" if row.id == m.current_session_id else " "
        pending = "  [run pending]" if row.pending else ""
        print(f"{mark} {row.id}  {row.title[:48]:<48}  {row.message_count:>4} msgs{pending}")


def cmd_new(m: CommandHost, opts: Any) -> None:
    title = " ".join(opts.title) or None
    session = m._new_session(title)
    if title:
        session_ops.rename_session(session.session_id, title)
    print(f"New session {session.session_id}" + (f": {title}" if title else ""))


def cmd_use(m: CommandHost, opts: Any) -> None:
    row = m._use_summary(" ".join(opts.id))
    print(f"Using session {row.id}: {row.title} ({row.message_count} messages)")


def cmd_history(m: CommandHost, opts: Any) -> None:
    from IPython.display import display

    from hermes_nb.ui.transcript import history_mimebundle

    session = m._require_session()
    if not session.messages:
        print("This session has no messages yet.")
        return
    display(history_mimebundle(session.messages, title=session.title), raw=True)


def cmd_undo(m: CommandHost, opts: Any) -> None:
    session = m._require_session()
    before = len(session.messages)
    session_ops.undo_last(session.session_id)
    after = len(sessions.get_session(session.session_id).messages)
    print(f"Removed the last request and its reply ({before - after} messages).")


def cmd_retry(m: CommandHost, opts: Any) -> None:
    session = m._require_session()
    text = session_ops.retry_last(session.session_id)
    m._run(text, own_cell=m._alone_in_cell())


def cmd_resume(m: CommandHost, opts: Any) -> None:
    if opts.id:
        session = m._use(opts.id)
        report = run_lifecycle.restore_session(session.session_id)
        if report is not None:
            show_restored([report], resume_hint=False)
    session = m._require_session()
    if session.active_stream_id and not run_lifecycle.repair_if_dead(session.session_id):
        raise UsageError(_RUN_ELSEWHERE)
    session = sessions.get_session(session.session_id)
    if not turn_history.is_resumable(session):
        raise UsageError("Nothing to resume: the last request was answered.")
    # a kernel restarted without the notebook's %config goes on with the run's model
    model = None if m.model else session.model
    m._run(None, model=model, own_cell=m._alone_in_cell())


def cmd_cancel(m: CommandHost, opts: Any) -> None:
    session = m._require_session()
    stream_id = session.active_stream_id
    if not stream_id:
        print("No run is pending in this session.")
        return
    import filelock

    lock = sessions.store().run_lock(session.session_id)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise UsageError(_RUN_ELSEWHERE) from None
    try:
        run_lifecycle.cancel_stream(stream_id)
    finally:
        lock.release()
    print("Cancelled the pending run; its partial output was kept.")


def cmd_title(m: CommandHost, opts: Any) -> None:
    session = m._require_session()
    session_ops.rename_session(session.session_id, " ".join(opts.text))
    print(f"Renamed to: {' '.join(opts.text)}")


def cmd_delete(m: CommandHost, opts: Any) -> None:
    session_id = sessions.validate_session_id(opts.id)
    sessions.get_session(session_id)
    session_ops.delete_session(session_id)
    if m.current_session_id == session_id:
        m.current_session_id = sessions.latest_session_id(m.notebook)
    print(f"Moved session {session_id} to the trash folder.")


def cmd_fork(m: CommandHost, opts: Any) -> None:
    session = m._require_session()
    starts = [i for i, m in enumerate(session.messages) if m.get("role") == "user"]
    if opts.n is not None and not 0 <= opts.n <= len(starts):
        raise UsageError(
            f"fork N: N counts turns (numbered in %agent history); this session has {len(starts)}."
        )
    cut = None if opts.n is None or opts.n == len(starts) else starts[opts.n]
    forked = session_ops.fork_session(session.session_id, cut)
    turns = len(starts) if opts.n is None else opts.n
    print(f"Forked into {forked.session_id} ({turns} turn{'' if turns == 1 else 's'}); now current.")
    m._switch(forked.session_id)


def cmd_export(m: CommandHost, opts: Any) -> None:
    from hermes_nb.ui.transcript import history_markdown

    session = sessions.get_session(sessions.validate_session_id(opts.id)) if opts.id else m._require_session()
    if opts.format == "json":
        text = json.dumps(session.to_dict(), indent=1, ensure_ascii=False)
    else:
        text = history_markdown(session.messages, title=session.title)
    text = redact(text, headers=False)  # a key or URL password in an older file
    out = Path(opts.output or f"{session.session_id}.{opts.format}")
    try:
        # a lone surrogate becomes a \uXXXX escape (JSON reads it back as it was)
        out.write_text(text, encoding="utf-8", errors="backslashreplace")
    except OSError as err:
        raise UsageError(f"Could not write {out}: {err.strerror}") from None
    print(f"Exported {len(session.messages)} messages to {out}")


def cmd_model(m: CommandHost, opts: Any) -> None:
    if opts.spec:
        m._provider(opts.spec)
        m.model = opts.spec
    print(f"Model: {m._model_spec()}")


def cmd_status(m: CommandHost, opts: Any) -> None:
    try:
        spec = m._model_spec()
    except UsageError:
        spec = "(none configured)"
    print(f"Model:    {spec}")
    print(f"Notebook: {m.notebook or '(unknown)'}")
    print(f"Folder:   {sessions.store().folder}")
    if not m.current_session_id:
        print("Session:  (none yet)")
        return
    session = sessions.get_session(m.current_session_id)
    state = "run pending" if session.active_stream_id else "idle"
    print(f"Session:  {session.session_id}  {session.title}  ({len(session.messages)} messages, {state})")
    print(
        f"Tokens:   {session.input_tokens} in / {session.output_tokens} out"
        + (f", ~${session.estimated_cost:.4f}" if session.estimated_cost else "")
    )



def cmd_mcp(m: CommandHost, opts: Any) -> None:
    from hermes_nb import mcp

    if opts.action is None:
        print(mcp.describe(dict(m.mcp_servers), m._folder(), dict(m.tool_policies)))
        return
    if opts.action == "trust":
        print(mcp.approve_folder(opts.name, dict(m.mcp_servers), m._folder()))
        return
    if opts.action == "untrust":
        print(mcp.revoke_folder(opts.name, m._folder()))
        return
    if not opts.name:
        raise UsageError("%agent mcp restart NAME: which server? (%agent mcp lists them)")
    print(mcp.restart(opts.name, dict(m.mcp_servers), m._folder(), m.mcp_start_timeout))

def show_restored(reports: list[run_lifecycle.RestoreReport], resume_hint: bool = True) -> None:
    """Each restored run as a cell output: Markdown in a notebook, text in a terminal
    (not stderr: a notebook shows that as an error box that wraps mid-word)."""
    from IPython.display import display

    for report in reports:
        display(report.mimebundle(resume_hint=resume_hint), raw=True)
