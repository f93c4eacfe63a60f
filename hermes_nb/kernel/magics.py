"""``%%agent`` and ``%agent``: the notebook's way in.

``AgentMagics`` is a traitlets configurable, so ``%config AgentMagics.model = ...``,
``c.AgentMagics.model`` in a profile and ``--AgentMagics.model=...`` on the kernel
command line all work. Nothing heavy (SDKs, widgets) is imported before the first run.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser
from traitlets import Any as TraitAny
from traitlets import Bool, Dict, Enum, Float, Int, TraitError, Unicode, default, observe, validate

from hermes_nb.errors import HermesError
from hermes_nb.kernel import commands, notebook_location, run_lifecycle, running_cell
from hermes_nb.safety.redact import redact
from hermes_nb.store import session_ops, sessions

__all__ = ["AgentMagics", "load", "unload"]

log = logging.getLogger("hermes_nb.kernel.magics")

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant working inside a Jupyter notebook. You can run Python "
    "in the user's kernel with the `python` tool (variables persist between calls and "
    "are shared with the user's notebook), and read, list and write files. Prefer "
    "running code to guessing; keep answers short and show results."
)



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
    sub.add_parser("use").add_argument("id", nargs="+")
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
    mcp = sub.add_parser("mcp")
    mcp.add_argument("action", nargs="?", choices=("restart", "trust", "untrust"))
    mcp.add_argument("name", nargs="?")
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
    vision = TraitAny(
        "auto",
        help="Send tool images (figures) to the model: 'auto' (known vision models), True, "
        "False, or a list of model-name patterns that accept images.",
    ).tag(config=True)
    namespace_context = Bool(
        True, help="Send a short summary of the kernel's variables (names, types) with each request."
    ).tag(config=True)
    context_window = Int(
        0,
        help="Tokens of context the model accepts (0: the server's word, else a table "
        "of known models, else 128,000). Older turns are summarised at 75% of it.",
    ).tag(config=True)
    request_timeout = Float(
        120.0,
        help="Seconds to wait for the model's server to connect, to start answering, "
        "and between any two pieces of its reply.",
    ).tag(config=True)
    stream_idle_timeout = Float(
        120.0,
        help="Seconds a reply may go without content (keep-alives and empty "
        "updates do not count) before the request is stopped.",
    ).tag(config=True)
    max_output_tokens = Int(
        0,
        help="The most tokens one model reply may have (0: a default per model, 8,192 "
        "for models it does not know). Sent with every request.",
    ).tag(config=True)
    prompt_cache = Bool(
        True,
        help="Mark the settled history and the tools for the provider's prompt cache "
        "(Anthropic), so each step of a long session pays full price only for what is new.",
    ).tag(config=True)
    mcp_servers = Dict(
        {},
        help="MCP servers, as in mcp.json's mcpServers: {name: {command, args, env, cwd} | "
        "{url, headers}}; these win over .hermes_nb/mcp.json and the Jupyter config folder's.",
    ).tag(config=True)
    mcp_timeout = Float(60.0, help="Seconds an MCP tool call may take (a server's 'timeout' wins).").tag(
        config=True
    )
    mcp_start_timeout = Float(30.0, help="Seconds an MCP server may take to start.").tag(config=True)
    mcp_start_wait = Float(
        10.0,
        help="Seconds a run waits for MCP servers it starts before its first model request; "
        "one still starting then goes on starting and joins a later run.",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        if shell is not None and self not in getattr(shell, "configurables", [self]):
            shell.configurables.append(self)
        self.current_session_id: str | None = None
        self.notebook: str | None = None
        #: the file tools work unasked inside it (None: the working directory)
        self.notebook_folder: Path | None = None
        self.notices: list[str] = []
        self._request: str | None = None  # the text of the request now running
        self._cell_parser, self._line_parser = _parsers()
        self._toolset: Any = None  # hermes_nb.kernel.toolset.Toolset, made at the first run (or prewarm)
        self._tool_notices: list[str] = []  # the MCP lines of the run being prepared
        self._ready = True

    @default("model")
    def _default_model(self) -> str:
        return os.environ.get("HERMES_NB_MODEL", "")

    @validate("vision")
    def _check_vision(self, proposal: dict[str, Any]) -> Any:
        from hermes_nb.agent.vision import parse_setting

        try:
            parse_setting(proposal["value"])
        except ValueError as err:
            raise TraitError(str(err)) from None
        return proposal["value"]

    @validate("tool_policies")
    def _check_policies(self, proposal: dict[str, Any]) -> dict[str, Any]:
        """Refuse a bad policy when it is set, not at the next run."""
        from hermes_nb.agent.tools.registry import check_policy

        value = proposal["value"]
        try:
            return {str(name): check_policy(policy, str(name)) for name, policy in value.items()}
        except HermesError as err:
            raise TraitError(str(err)) from None

    @observe("session_dir")
    def _session_dir_changed(self, change: dict[str, Any]) -> None:
        if not getattr(self, "_ready", False) or getattr(self, "_reverting", False):
            return  # config applied in __init__ waits for load()
        if change["new"]:
            try:
                sessions.check_session_dir(change["new"])
            except HermesError as err:  # refused: the old folder stays in use
                self._reverting = True
                try:
                    self.session_dir = change["old"]
                finally:
                    self._reverting = False
                print(f"hermes_nb: session_dir not changed: {err}", file=sys.stderr)
                return
        self.attach()

    # -- where sessions live -------------------------------------------------------

    def attach(self) -> list[str]:
        """Find the notebook, point the store at its folder, repair dead runs.

        Never raises: a folder that cannot be written, or one odd session, gives a
        line in the cell and leaves the kernel usable.
        """
        user_ns = self.shell.user_ns if self.shell is not None else {}
        location = notebook_location.find_notebook(user_ns, os.environ, self.session_dir or None)
        self.notebook = location.name
        self.notebook_folder = location.path.parent if location.path is not None else None
        notices = [location.warning] if location.warning else []
        restored: list[run_lifecycle.RestoreReport] = []
        try:
            sessions.set_session_dir(location.session_dir)
            restored = run_lifecycle.restore_interrupted(self.notebook)
            self.current_session_id = sessions.latest_session_id(self.notebook)
        except HermesError as err:
            notices.append(f"hermes_nb: {err}")
            self.current_session_id = None
        except Exception as err:  # %load_ext must never fail because of one session
            log.exception("attaching to %s failed", location.session_dir)
            notices.append(f"hermes_nb: could not read the sessions in {location.session_dir}: {err!r}")
            self.current_session_id = None
        notices += sessions.consume_warnings()
        for notice in notices:
            print(redact(notice), file=sys.stderr)  # a server's stderr line may hold a key
        resumed_here = running_cell.resumes(self.shell, self.current_session_id)
        for report in restored:  # no "continue it with" above the run this cell continues
            commands.show_restored([report], resume_hint=not resumed_here(report.session_id))
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
            raise UsageError(redact(str(err))) from None
        finally:
            for notice in sessions.consume_warnings():  # e.g. a corrupt file moved aside
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
        self._run(
            text, model=opts.model, tools=not opts.no_tools, max_turns=opts.max_turns, own_cell=True
        )

    def _line(self, line: str) -> None:
        if not line.strip():
            print(commands.HELP)
            return
        opts = self._line_parser.parse_argstring(line)
        command: Callable[[commands.CommandHost, Any], None] = getattr(commands, f"cmd_{opts.command}")
        command(self, opts)

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
        own_cell: bool = False,
    ) -> None:
        from hermes_nb.agent.events import Notice
        from hermes_nb.kernel import said_once
        from hermes_nb.kernel.cell_loop import drive
        from hermes_nb.kernel.titles import fallback_title
        from hermes_nb.ui import choose_renderer

        spec = self._model_spec(model)
        self._request = text
        provider = self._provider(spec)
        session = self._current_session(spec)
        session.model = redact(spec)  # the model of the latest run, which a resume goes on with
        plain_chat = tools and not getattr(provider, "supports_tools", True)
        said = plain_chat and said_once.was_said(session.session_id, said_once.no_tools_key(spec))
        agent = self._agent(provider, tools=tools and not said, max_turns=max_turns or self.max_turns)
        self._show_images(agent, provider, session.session_id)
        run = run_lifecycle.Run(
            session.session_id,
            text,
            # a model that cannot run code has no use for the variables' names, and a
            # small one answers the summary instead of the question
            attachments=self._context(text, namespace=getattr(provider, "supports_tools", True)),
            checkpoint_interval=self.checkpoint_interval,
            title=fallback_title(text) if self.auto_title and text else None,
        )
        display = self.display
        if display == "auto" and running_cell.headless(self.shell):
            # nobody will see a live view, and nbclient (jupyter execute) would store
            # every widget's state in the notebook: only the final transcript
            display = "static"
        # the view is made once the request is on its way (cell_loop._View)
        make_view = lambda: choose_renderer(spec, display, own_cell=own_cell)  # noqa: E731

        def prepare(run: run_lifecycle.Run, show: Callable[[Notice], None]) -> None:
            # in the transcript, which replaces whatever the cell showed
            for line in self._tool_notices:
                show(Notice(line))
            self._compress(run, provider, lambda line: show(Notice(redact(line))))

        try:
            outcome = drive(run, agent, make_view, prepare=prepare)
        finally:
            self.current_session_id = run.session_id  # a new one if the history was compressed
        # also when the server refused tools during this run (and the run said so)
        if tools and not getattr(provider, "supports_tools", True) and not said and outcome.written:
            said_once.remember(run.session_id, said_once.no_tools_key(spec))
        request = text if text is not None else said_once.first_request(run.session_id)
        if outcome.written and self.auto_title and request:
            self._maybe_title(run.session_id, request, provider)

    def _folder(self) -> Path:
        """The notebook's folder (the working directory when it is not known)."""
        return self.notebook_folder or Path.cwd()

    def prepare_first_run(self) -> None:
        """What the first run would otherwise do before its request leaves (see
        prewarm): the provider and its connection pool, the model's context window
        (a request to the server), the built-in tools."""
        self.toolset().fixed(self.shell, shell_timeout=self.shell_timeout, root=self.notebook_folder)
        provider = self._provider(self._model_spec())
        provider.prepare()
        prefetch = getattr(provider, "prefetch_window", None)
        if prefetch is not None and not self.context_window:
            prefetch()

    def _show_images(self, agent: Any, provider: Any, session_id: str) -> None:
        """Tool images are kept beside the session; a model that accepts images sees them."""
        from hermes_nb.agent.images import ImageStore
        from hermes_nb.agent.vision import accepts_images

        agent.images = ImageStore(sessions.store().folder, session_id)
        agent.vision = accepts_images(provider, self.vision)

    def _context(self, text: str | None, namespace: bool = True) -> list[dict[str, Any]]:
        """``@name`` variables and the namespace summary, captured as the request is sent."""
        if text is None or self.shell is None:
            return []
        from hermes_nb.context import build_context

        hidden = getattr(self.shell, "user_ns_hidden", {})
        with_namespace = self.namespace_context and namespace
        return build_context(text, self.shell.user_ns, hidden, with_namespace=with_namespace)

    def _compress(self, run: run_lifecycle.Run, provider: Any, notify: Callable[[str], None]) -> None:
        """Summarise older turns when the history nears the model's window (the
        request is already saved; a failure is one line and the run goes on)."""
        from hermes_nb.kernel.compression import compress_for_run

        window = self.context_window or provider.context_window
        compress_for_run(run, provider, window, notify=notify)

    def _provider(self, spec: str) -> Any:
        from hermes_nb.agent.providers import resolve_provider

        provider = resolve_provider(spec, base_url=self.base_url)
        # the HTTP providers read these at each request
        for name, value in (("read_timeout", self.request_timeout), ("idle_timeout", self.stream_idle_timeout)):
            if hasattr(provider, name):
                setattr(provider, name, value)
        provider.max_output_tokens = self.max_output_tokens if self.max_output_tokens > 0 else None
        if hasattr(provider, "prompt_cache"):
            provider.prompt_cache = self.prompt_cache
        return provider

    def _agent(self, provider: Any, *, tools: bool, max_turns: int) -> Any:
        from hermes_nb.agent.loop import Agent

        self._tool_notices = []
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
        registry, notices = self.toolset().for_run(
            self.shell,
            shell_timeout=self.shell_timeout,
            root=self.notebook_folder,
            mcp_servers=dict(self.mcp_servers),
            mcp_folder=self._folder(),
            mcp_timeout=self.mcp_timeout,
            mcp_start_timeout=self.mcp_start_timeout,
            mcp_start_wait=self.mcp_start_wait,
            progress=self._say_live(),
        )
        self._tool_notices = [redact(notice) for notice in notices]  # shown in the run's transcript
        return registry

    def _say_live(self) -> Callable[[str], None] | None:
        """How to show a line only for as long as the run's view is not up (it replaces
        the cell's output), or None where nobody watches the cell live and the line
        would stay in the saved output (nbclient, nbval: no Jupyter server, no VS Code)."""
        user_ns = self.shell.user_ns if self.shell is not None else {}
        kernel = getattr(self.shell, "kernel", None)
        if kernel is not None and not os.environ.get("JPY_SESSION_NAME") and "__vsc_ipynb_file__" not in user_ns:
            return None
        return lambda line: print(line, file=sys.stderr)

    def toolset(self) -> Any:
        """This kernel's tools (built once, see toolset.py)."""
        if self._toolset is None:
            from hermes_nb.kernel.toolset import Toolset

            self._toolset = Toolset(running_request=lambda: self._request)
        return self._toolset

    def _current_session(self, spec: str) -> sessions.Session:
        if self.current_session_id:
            try:
                return sessions.get_session(self.current_session_id, refresh=True)
            except HermesError:
                self.current_session_id = None
        return self._new_session(None, model=spec)

    def _switch(self, session_id: str | None) -> None:
        """Make ``session_id`` current; the one left behind goes if it never held anything."""
        left = self.current_session_id
        self.current_session_id = session_id
        if left and left != session_id:
            session_ops.discard_if_empty(left)

    def _new_session(self, title: str | None, model: str | None = None) -> sessions.Session:
        spec = model or self.model or None
        session = sessions.new_session(title=title, notebook=self.notebook, model=redact(spec) if spec else None)
        self._switch(session.session_id)
        return session

    def _use(self, query: str) -> sessions.Session:
        from hermes_nb.kernel.lookup import resolve_session_id

        session = sessions.get_session(resolve_session_id(query, self.notebook), refresh=True)
        self._switch(session.session_id)
        return session

    def _use_summary(self, query: str) -> sessions.IndexRow:
        """Switch to the session ``query`` names; its messages are read by the next
        command that needs them, not here (``sessions.session_summary``)."""
        from hermes_nb.kernel.lookup import resolve_session_id

        row = sessions.session_summary(resolve_session_id(query, self.notebook))
        self._switch(row.id)
        return row

    def _alone_in_cell(self) -> bool:
        return running_cell.alone_in_cell(self.shell)

    def _require_session(self) -> sessions.Session:
        if not self.current_session_id:
            raise UsageError("No session yet: ask something with %%agent, or %agent new.")
        return sessions.get_session(self.current_session_id, refresh=True)

    def _maybe_title(self, session_id: str, text: str, provider: Any) -> None:
        from hermes_nb.kernel.titles import start_title

        start_title(session_id, text, provider)




def _make_approver(agent: Any) -> Any:
    """Ask the user with ``input()`` on the cell thread (the stdin channel works in a
    blocking cell), showing the whole call; where nobody can answer (headless
    runs), the answer is no."""

    def approve(name: str, arguments: dict[str, Any]) -> bool | None:
        def ask() -> bool | None:
            from hermes_nb.agent.tools.approval import approval_for

            question = approval_for(name, arguments, _reason(agent, name, arguments))
            if question.refusal is not None:
                print(question.refusal, file=sys.stderr)
                return False
            if question.above is not None:
                print(question.above)
            try:
                answer = input(question.prompt)
            except Exception:  # StdinNotImplementedError, EOFError: no frontend to ask
                return None
            return answer.strip().lower() in ("y", "yes")

        runner = agent.kernel_runner
        if runner is None or threading.current_thread() is threading.main_thread():
            return ask()
        return runner(ask)  # type: ignore[no-any-return]

    return approve


def _reason(agent: Any, name: str, arguments: dict[str, Any]) -> str:
    """Why a call is asked about, when its tool would run unasked in the notebook's folder."""
    tool = agent.tools.get(name)
    policy = agent.policies.get(name, getattr(tool, "policy", None))
    if policy == "folder" and tool is not None and not tool.stays_inside(arguments):
        return f"{name} wants a path outside the notebook's folder"
    return ""


_LOADED: dict[int, AgentMagics] = {}


def load(ipython: Any) -> AgentMagics:
    from hermes_nb.kernel import prewarm

    unload(ipython)  # a second load replaces the first, never stacks on it
    magics = AgentMagics(shell=ipython)
    ipython.register_magics(magics)
    _LOADED[id(ipython)] = magics
    magics.attach()
    prewarm.start(magics.prepare_first_run)
    return magics


def unload(ipython: Any) -> None:
    """Remove ``%agent``/``%%agent`` and the configurable, and cancel this kernel's runs."""
    magics = _LOADED.pop(id(ipython), None)
    manager = getattr(ipython, "magics_manager", None)
    if manager is not None:
        for kind in ("line", "cell"):
            table = manager.magics.get(kind, {})
            bound = table.get("agent")
            if magics is None or getattr(bound, "__self__", None) is magics:
                table.pop("agent", None)
        if magics is None or manager.registry.get("AgentMagics") is magics:
            manager.registry.pop("AgentMagics", None)
    configurables = getattr(ipython, "configurables", [])
    configurables[:] = [c for c in configurables if not isinstance(c, AgentMagics)]
    for run in list(run_lifecycle.ACTIVE_RUNS.values()):
        run.cancel_event.set()
