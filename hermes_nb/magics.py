"""``%%agent`` and ``%agent``: the notebook's way in.

``AgentMagics`` is a traitlets configurable, so ``%config AgentMagics.model = ...``,
``c.AgentMagics.model`` in a profile and ``--AgentMagics.model=...`` on the kernel
command line all work. Nothing heavy (SDKs, widgets) is imported before the first run.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser
from traitlets import Bool, Dict, Enum, Float, Int, Unicode, default, observe

from hermes_nb import config, models, session_ops, streaming
from hermes_nb.errors import HermesError

__all__ = ["AgentMagics", "load", "unload"]

log = logging.getLogger("hermes_nb.magics")

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant working inside a Jupyter notebook. You can run Python "
    "in the user's kernel with the `python` tool (variables persist between calls and "
    "are shared with the user's notebook), and read, list and write files. Prefer "
    "running code to guessing; keep answers short and show results."
)

HELP = """\
%%agent [--model SPEC] [--new] [--session ID] [--no-tools] [--max-turns N]
<your request>            ask the agent; the session continues across cells

%agent sessions [--all]   this notebook's sessions (--all: every one in the folder)
%agent new [TITLE]        start a new session
%agent use ID             switch to a session
%agent history            the current session's conversation
%agent undo               remove the last request and everything after it
%agent retry              remove the last request and send it again
%agent resume [ID]        continue a run that was interrupted, cancelled or failed
%agent cancel             mark a run left pending by a dead kernel as cancelled
%agent title TEXT         rename the current session
%agent delete ID          move a session to the trash
%agent fork [N]           new session from the first N messages (default: all)
%agent export [ID] [--format md|json] [--output PATH]
%agent model [SPEC]       show or set the model
%agent status             model, folder, session and run state
%agent help               this text"""


def _parsers() -> tuple[MagicArgumentParser, MagicArgumentParser]:
    cell = MagicArgumentParser(prog="%%agent", add_help=False)
    cell.add_argument("--model", "-m", help="provider:model for this cell")
    cell.add_argument("--new", action="store_true", help="start a new session")
    cell.add_argument("--session", "-s", help="session id to continue")
    cell.add_argument("--no-tools", action="store_true", help="plain chat, no tools")
    cell.add_argument("--max-turns", type=int, help="tool-loop steps allowed")

    line = MagicArgumentParser(prog="%agent", add_help=False)
    sub = line.add_subparsers(dest="command", parser_class=MagicArgumentParser)
    sub.add_parser("sessions").add_argument("--all", action="store_true")
    sub.add_parser("new").add_argument("title", nargs="*")
    sub.add_parser("use").add_argument("id")
    for name in ("history", "undo", "retry", "cancel", "status", "help"):
        sub.add_parser(name)
    sub.add_parser("resume").add_argument("id", nargs="?")
    sub.add_parser("title").add_argument("text", nargs="+")
    sub.add_parser("delete").add_argument("id")
    sub.add_parser("fork").add_argument("n", nargs="?", type=int)
    export = sub.add_parser("export")
    export.add_argument("id", nargs="?")
    export.add_argument("--format", choices=("md", "json"), default="md")
    export.add_argument("--output", "-o")
    sub.add_parser("model").add_argument("spec", nargs="?")
    return cell, line


@magics_class
class AgentMagics(Magics):
    """Run a tool-using agent in a cell; manage its sessions."""

    model = Unicode(
        help="provider:model, e.g. openai:gpt-4.1-mini, anthropic:claude-sonnet-4-5, "
        "ollama:llama3.2, local:smollm2, replay:script.json. Default: $HERMES_NB_MODEL, "
        "else the built-in offline model when installed."
    ).tag(config=True)
    base_url = Unicode(
        None, allow_none=True, help="Base URL of an OpenAI-compatible server (vLLM, LM Studio, ...)."
    ).tag(config=True)
    session_dir = Unicode(
        None, allow_none=True, help="Folder for session files (default: next to the notebook)."
    ).tag(config=True)
    system_prompt = Unicode(DEFAULT_SYSTEM_PROMPT, help="System prompt sent first.").tag(config=True)
    max_turns = Int(10, help="Tool-loop steps allowed per request.").tag(config=True)
    tool_policies = Dict(
        {}, help="Per-tool approval: {'shell': 'allow'|'ask'|'deny', ...} over the defaults."
    ).tag(config=True)
    auto_title = Bool(True, help="Name new sessions after their first exchange.").tag(config=True)
    display = Enum(
        ["auto", "widget", "text", "static"], "auto", help="How a run is shown in the cell."
    ).tag(config=True)
    checkpoint_interval = Float(
        2.0, help="Seconds between checkpoints while text streams."
    ).tag(config=True)
    shell_timeout = Float(60.0, help="Seconds before the shell tool gives up.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        if shell is not None and self not in getattr(shell, "configurables", [self]):
            shell.configurables.append(self)
        self.current_session_id: str | None = None
        self.notebook: str | None = None
        self.notices: list[str] = []
        self._cell_parser, self._line_parser = _parsers()
        self._ready = True

    @default("model")
    def _default_model(self) -> str:
        return os.environ.get("HERMES_NB_MODEL", "")

    @observe("session_dir")
    def _session_dir_changed(self, change: dict[str, Any]) -> None:
        if getattr(self, "_ready", False):  # config applied in __init__ waits for load()
            self.attach()

    # -- where sessions live -------------------------------------------------------

    def attach(self) -> list[str]:
        """Find the notebook, point the store at its folder, repair dead runs."""
        user_ns = self.shell.user_ns if self.shell is not None else {}
        location = config.find_notebook(user_ns, os.environ, self.session_dir or None)
        self.notebook = location.name
        models.set_session_dir(location.session_dir)
        notices = [location.warning] if location.warning else []
        restored = streaming.restore_interrupted(self.notebook)
        notices += models.consume_warnings()
        self.current_session_id = models.latest_session_id(self.notebook)
        for notice in notices:
            print(notice, file=sys.stderr)
        _show_restored(restored)
        self.notices = notices + [r.notice() for r in restored]
        return self.notices

    # -- the magic -------------------------------------------------------------------

    @line_cell_magic
    def agent(self, line: str, cell: str | None = None) -> None:
        """Ask the agent (cell), or manage sessions (line). ``%agent help`` lists all."""
        try:
            if cell is None:
                self._line(line)
            else:
                self._cell(line, cell)
        except HermesError as err:
            raise UsageError(str(err)) from None
        finally:
            for notice in models.consume_warnings():  # e.g. a corrupt file moved aside
                print(notice, file=sys.stderr)

    def _cell(self, line: str, cell: str) -> None:
        opts = self._cell_parser.parse_argstring(line)
        text = cell.strip()
        if not text:
            raise UsageError("%%agent needs a request below the first line.")
        if opts.max_turns is not None and opts.max_turns < 1:
            raise UsageError("--max-turns must be at least 1.")
        if opts.new and opts.session:
            raise UsageError("Use either --new or --session, not both.")
        if opts.session:
            self._use(opts.session)
        elif opts.new:
            self._new_session(None)
        self._run(text, model=opts.model, tools=not opts.no_tools, max_turns=opts.max_turns)

    def _line(self, line: str) -> None:
        if not line.strip():
            print(HELP)
            return
        opts = self._line_parser.parse_argstring(line)
        handler = getattr(self, f"_cmd_{opts.command}")
        handler(opts)

    # -- running -------------------------------------------------------------------------

    def _model_spec(self, override: str | None = None) -> str:
        from hermes_nb.agent.providers import default_model_spec, model_setup_help

        spec = override or self.model or default_model_spec(os.environ)
        if not spec:
            raise UsageError(model_setup_help())
        return spec

    def _run(
        self,
        text: str | None,
        *,
        model: str | None = None,
        tools: bool = True,
        max_turns: int | None = None,
    ) -> None:
        from hermes_nb.cell_loop import drive
        from hermes_nb.ui import choose_renderer

        spec = self._model_spec(model)
        provider = self._provider(spec)
        session = self._compress_if_needed(self._current_session(spec), provider)
        agent = self._agent(provider, tools=tools, max_turns=max_turns or self.max_turns)
        run = streaming.Run(
            session.session_id, text, checkpoint_interval=self.checkpoint_interval
        )
        renderer = choose_renderer(spec, self.display)
        outcome = drive(run, agent, renderer)
        if outcome.written and self.auto_title and text is not None:
            self._maybe_title(session.session_id, text, provider)

    def _compress_if_needed(self, session: models.Session, provider: Any) -> models.Session:
        from hermes_nb.compression import compress_session, needs_compression

        if not needs_compression(session.messages, provider.context_window):
            return session
        done = compress_session(session.session_id, provider)
        if done is None:
            return session
        print(done.notice(), file=sys.stderr)
        self.current_session_id = done.new_id
        return models.get_session(done.new_id)

    def _provider(self, spec: str) -> Any:
        from hermes_nb.agent.providers import resolve_provider

        return resolve_provider(spec, base_url=self.base_url)

    def _agent(self, provider: Any, *, tools: bool, max_turns: int) -> Any:
        from hermes_nb.agent.loop import Agent

        registry = self._tools() if tools else None
        agent = Agent(
            provider,
            registry,
            system_prompt=self.system_prompt,
            max_turns=max_turns,
            policies=dict(self.tool_policies),
        )
        agent.approve = _make_approver(agent)
        return agent

    def _tools(self) -> Any:
        from hermes_nb.agent.tools.builtin import builtin_tools
        from hermes_nb.agent.tools.registry import USER_TOOLS

        user_ns = self.shell.user_ns if self.shell is not None else {}
        registry = builtin_tools(user_ns, shell_timeout=self.shell_timeout)
        for name in USER_TOOLS.names():
            tool = USER_TOOLS.get(name)
            if tool is not None:
                registry.register(tool)
        return registry

    def _current_session(self, spec: str) -> models.Session:
        if self.current_session_id:
            try:
                return models.get_session(self.current_session_id)
            except HermesError:
                self.current_session_id = None
        return self._new_session(None, model=spec)

    def _new_session(self, title: str | None, model: str | None = None) -> models.Session:
        session = models.new_session(title=title, notebook=self.notebook, model=model or self.model or None)
        self.current_session_id = session.session_id
        return session

    def _use(self, session_id: str) -> models.Session:
        session = models.get_session(models.validate_session_id(session_id))
        self.current_session_id = session.session_id
        return session

    def _require_session(self) -> models.Session:
        if not self.current_session_id:
            raise UsageError("No session yet: ask something with %%agent, or %agent new.")
        return models.get_session(self.current_session_id)

    def _maybe_title(self, session_id: str, text: str, provider: Any) -> None:
        from hermes_nb.titles import start_title

        start_title(session_id, text, provider)

    # -- line commands ----------------------------------------------------------------------

    def _cmd_help(self, opts: Any) -> None:
        print(HELP)

    def _cmd_sessions(self, opts: Any) -> None:
        rows = models.list_sessions(notebook=self.notebook, include_all=opts.all)
        if not rows:
            print("No sessions yet. Ask something with %%agent.")
            return
        for row in rows:
            mark = "*" if row.id == self.current_session_id else " "
            pending = "  [run pending]" if row.pending else ""
            print(f"{mark} {row.id}  {row.title[:48]:<48}  {row.message_count:>4} msgs{pending}")

    def _cmd_new(self, opts: Any) -> None:
        title = " ".join(opts.title) or None
        session = self._new_session(title)
        if title:
            session_ops.rename_session(session.session_id, title)
        print(f"New session {session.session_id}" + (f": {title}" if title else ""))

    def _cmd_use(self, opts: Any) -> None:
        session = self._use(opts.id)
        print(f"Using session {session.session_id}: {session.title} ({len(session.messages)} messages)")

    def _cmd_history(self, opts: Any) -> None:
        from IPython.display import display

        from hermes_nb.ui.transcript import history_mimebundle

        session = self._require_session()
        if not session.messages:
            print("This session has no messages yet.")
            return
        display(history_mimebundle(session.messages, title=session.title), raw=True)

    def _cmd_undo(self, opts: Any) -> None:
        session = self._require_session()
        before = len(session.messages)
        session_ops.undo_last(session.session_id)
        after = len(models.get_session(session.session_id).messages)
        print(f"Removed the last request and its reply ({before - after} messages).")

    def _cmd_retry(self, opts: Any) -> None:
        session = self._require_session()
        text = session_ops.retry_last(session.session_id)
        self._run(text)

    def _cmd_resume(self, opts: Any) -> None:
        if opts.id:
            session = self._use(opts.id)
            report = streaming.restore_session(session.session_id)
            if report is not None:
                _show_restored([report], resume_hint=False)
            session = models.get_session(session.session_id)
        else:
            session = self._require_session()
        if session.active_stream_id:
            raise UsageError("A run is still pending in this session; %agent cancel it first.")
        if not streaming.is_resumable(session):
            raise UsageError("Nothing to resume: the last request was answered.")
        self._run(None)

    def _cmd_cancel(self, opts: Any) -> None:
        session = self._require_session()
        stream_id = session.active_stream_id
        if not stream_id:
            print("No run is pending in this session.")
            return
        import filelock

        lock = config.run_lock(session.session_id)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            raise UsageError("That run is alive in another kernel; stop it there.") from None
        try:
            streaming.cancel_stream(stream_id)
        finally:
            lock.release()
        print("Cancelled the pending run; its partial output was kept.")

    def _cmd_title(self, opts: Any) -> None:
        session = self._require_session()
        session_ops.rename_session(session.session_id, " ".join(opts.text))
        print(f"Renamed to: {' '.join(opts.text)}")

    def _cmd_delete(self, opts: Any) -> None:
        session_id = models.validate_session_id(opts.id)
        models.get_session(session_id)
        session_ops.delete_session(session_id)
        if self.current_session_id == session_id:
            self.current_session_id = models.latest_session_id(self.notebook)
        print(f"Moved session {session_id} to the trash folder.")

    def _cmd_fork(self, opts: Any) -> None:
        session = self._require_session()
        if opts.n is not None and not 0 <= opts.n <= len(session.messages):
            raise UsageError(f"fork N: N must be between 0 and {len(session.messages)}.")
        forked = session_ops.fork_session(session.session_id, opts.n)
        self.current_session_id = forked.session_id
        print(f"Forked into {forked.session_id} ({len(forked.messages)} messages); now current.")

    def _cmd_export(self, opts: Any) -> None:
        from hermes_nb.ui.transcript import history_markdown

        session = models.get_session(models.validate_session_id(opts.id)) if opts.id else self._require_session()
        if opts.format == "json":
            text = json.dumps(session.to_dict(), indent=1, ensure_ascii=False)
        else:
            text = history_markdown(session.messages, title=session.title)
        out = Path(opts.output or f"{session.session_id}.{opts.format}")
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as err:
            raise UsageError(f"Could not write {out}: {err.strerror}") from None
        print(f"Exported {len(session.messages)} messages to {out}")

    def _cmd_model(self, opts: Any) -> None:
        if opts.spec:
            self._provider(opts.spec)
            self.model = opts.spec
        print(f"Model: {self._model_spec()}")

    def _cmd_status(self, opts: Any) -> None:
        try:
            spec = self._model_spec()
        except UsageError:
            spec = "(none configured)"
        print(f"Model:    {spec}")
        print(f"Notebook: {self.notebook or '(unknown)'}")
        print(f"Folder:   {models.SESSION_DIR}")
        if not self.current_session_id:
            print("Session:  (none yet)")
            return
        session = models.get_session(self.current_session_id)
        state = "run pending" if session.active_stream_id else "idle"
        print(f"Session:  {session.session_id}  {session.title}  ({len(session.messages)} messages, {state})")
        print(
            f"Tokens:   {session.input_tokens} in / {session.output_tokens} out"
            + (f", ~${session.estimated_cost:.4f}" if session.estimated_cost else "")
        )


def _show_restored(reports: list[streaming.RestoreReport], resume_hint: bool = True) -> None:
    """Each restored run as a cell output: Markdown in a notebook, text in a terminal
    (not stderr: a notebook shows that as an error box that wraps mid-word)."""
    from IPython.display import display

    for report in reports:
        display(report.mimebundle(resume_hint=resume_hint), raw=True)


def _make_approver(agent: Any) -> Any:
    """Ask the user with ``input()`` on the cell thread (the stdin channel works in a
    blocking cell); where nobody can answer (headless runs), the answer is no."""

    def approve(name: str, arguments: dict[str, Any]) -> bool | None:
        def ask() -> bool | None:
            preview = json.dumps(arguments, ensure_ascii=False)
            preview = preview if len(preview) < 300 else preview[:300] + "…"
            try:
                answer = input(f"Allow {name}({preview})? [y/N] ")
            except Exception:  # StdinNotImplementedError, EOFError: no frontend to ask
                return None
            return answer.strip().lower() in ("y", "yes")

        runner = agent.kernel_runner
        if runner is None or threading.current_thread() is threading.main_thread():
            return ask()
        return runner(ask)  # type: ignore[no-any-return]

    return approve


_LOADED: dict[int, AgentMagics] = {}


def load(ipython: Any) -> AgentMagics:
    magics = AgentMagics(shell=ipython)
    ipython.register_magics(magics)
    _LOADED[id(ipython)] = magics
    magics.attach()
    return magics


def unload(ipython: Any) -> None:
    _LOADED.pop(id(ipython), None)
