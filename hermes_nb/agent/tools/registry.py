"""Tools the model can call, and the ``@hermes_nb.tool`` decorator.

A tool is a plain function plus what the loop needs to call it safely: a JSON
schema for the model, whether it must run on the kernel's main thread, and an
approval policy. ``USER_TOOLS`` collects the functions a notebook decorates, so a
cell can add a tool without touching the agent's configuration.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar, cast, overload

from hermes_nb.agent.images import ToolImage
from hermes_nb.agent.tools.schema import function_schema
from hermes_nb.errors import ToolError

__all__ = [
    "POLICIES",
    "USER_TOOLS",
    "Policy",
    "Tool",
    "ToolOutput",
    "ToolRegistry",
    "asking_through",
    "current_cancel",
    "current_asker",
    "current_policy",
    "tool",
]

#: "folder": run without asking when the call stays inside the notebook's folder
#: (its ``scope`` says so), ask otherwise; for a tool without a scope, "ask"
Policy = Literal["allow", "ask", "deny", "folder"]
POLICIES: tuple[str, ...] = ("allow", "ask", "deny", "folder")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what every chat API accepts as a function name

F = TypeVar("F", bound=Callable[..., Any])

_CANCEL: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "hermes_nb_tool_cancel", default=None
)

_POLICY: contextvars.ContextVar[str | None] = contextvars.ContextVar("hermes_nb_tool_policy", default=None)


def current_policy() -> str | None:
    """The policy the running call was let through under (None outside a run).

    A tool that asks the user in its own way (``edit_cell``'s diff) asks unless it is
    ``allow``."""
    return _POLICY.get()


_ASKER: contextvars.ContextVar[Callable[[Callable[[], Any]], Any] | None] = contextvars.ContextVar(
    "hermes_nb_tool_asker", default=None
)


def current_asker() -> Callable[[Callable[[], Any]], Any] | None:
    """How the running call may ask the user something: it hands a function (which may
    call ``input()``) to the cell thread and gets its result. None where there is no cell
    thread to ask on; ``input()`` itself fails where nobody can answer."""
    return _ASKER.get()


@contextlib.contextmanager
def asking_through(runner: Callable[[Callable[[], Any]], Any] | None) -> Iterator[None]:
    """Make ``runner`` the ``current_asker`` while a tool runs."""
    token = _ASKER.set(runner)
    try:
        yield
    finally:
        _ASKER.reset(token)


def current_cancel() -> threading.Event:
    """The cancel signal of the run calling this tool.

    Long-running tools (``shell``) poll it so a cancelled run does not leave work
    behind; outside a run it is an event that is never set.
    """
    return _CANCEL.get() or threading.Event()


@dataclass(frozen=True)
class ToolOutput:
    """What a tool returns: ``text`` for the model, ``outputs`` (mimebundles) for the
    user, ``images`` for the model to see (sent to models that accept images)."""

    text: str
    is_error: bool = False
    outputs: tuple[dict[str, Any], ...] = ()
    images: tuple[ToolImage, ...] = ()


@dataclass
class Tool:
    """A function the model may call, with its schema and how to run it."""

    name: str
    description: str
    parameters: dict[str, Any]
    func: Callable[..., Any]
    needs_kernel: bool = False
    policy: Policy = "allow"
    #: "ask" lets the call run: the tool itself asks the user (``edit_cell`` shows a diff)
    approves_itself: bool = False
    #: for the "folder" policy: True when a call's arguments stay inside the folder
    scope: Callable[[dict[str, Any]], bool] | None = field(default=None, repr=False, compare=False)
    _signature: inspect.Signature | None = field(default=None, repr=False, compare=False)

    def stays_inside(self, arguments: dict[str, Any]) -> bool:
        """Whether the "folder" policy lets this call run without asking."""
        if self.scope is None:
            return False
        try:
            return bool(self.scope(arguments))
        except Exception:  # arguments it cannot judge: ask
            return False

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        policy: str = "allow",
        needs_kernel: bool = False,
    ) -> Tool:
        """Build a tool from a function's signature and docstring."""
        if not callable(func):
            raise ToolError(f"a tool must be a function, not {type(func).__name__}")
        tool_name = name or getattr(func, "__name__", None) or type(func).__name__
        _check_name(tool_name)
        description, parameters = function_schema(func, tool_name)
        return cls(
            name=tool_name,
            description=description,
            parameters=parameters,
            func=func,
            needs_kernel=needs_kernel,
            policy=check_policy(policy, tool_name),
            _signature=inspect.signature(func),
        )

    def schema(self) -> dict[str, Any]:
        """The OpenAI function schema sent to the model."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def call(
        self,
        arguments: dict[str, Any],
        cancel: threading.Event | None = None,
        policy: str | None = None,
    ) -> ToolOutput:
        """Run the function with the model's arguments and normalise what it returns.

        Wrong argument names raise ``ToolError`` with a message the model can act on;
        anything the function raises propagates (the loop reports it to the model).
        """
        args, kwargs = self._bind(arguments)
        token = _CANCEL.set(cancel)
        policy_token = _POLICY.set(policy)
        try:
            return as_output(self.func(*args, **kwargs))
        finally:
            _POLICY.reset(policy_token)
            _CANCEL.reset(token)

    def _bind(self, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        sig = self._signature or inspect.signature(self.func)
        remaining = dict(arguments)
        args = [
            remaining.pop(p.name)
            for p in sig.parameters.values()
            if p.kind is p.POSITIONAL_ONLY and p.name in remaining
        ]
        try:
            sig.bind(*args, **remaining)
        except TypeError as exc:
            expected = ", ".join(sig.parameters) or "no arguments"
            raise ToolError(f"invalid arguments for {self.name}: {exc} (expected: {expected})") from exc
        return args, remaining


def as_output(value: Any) -> ToolOutput:
    """Turn whatever a tool function returned into a ToolOutput."""
    if isinstance(value, ToolOutput):
        return value
    if value is None:
        return ToolOutput("(no output)")
    if isinstance(value, str):
        return ToolOutput(value)
    try:
        return ToolOutput(json.dumps(value, ensure_ascii=False, default=str))
    except (TypeError, ValueError):
        return ToolOutput(repr(value))


def check_policy(policy: str, name: str = "") -> Policy:
    """Validate a policy string (a typo must not silently allow a tool)."""
    if policy not in POLICIES:
        where = f" for tool {name!r}" if name else ""
        raise ToolError(f"unknown policy {policy!r}{where}; use one of {', '.join(POLICIES)}")
    return cast(Policy, policy)


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ToolError(
            f"invalid tool name {name!r}: use 1-64 letters, digits, '_' or '-'"
        )


class ToolRegistry:
    """Tools by name. Registering a name again replaces it, so re-running a cell works."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self._lock = threading.Lock()
        for t in tools or []:
            self.register(t)

    def register(
        self,
        func_or_tool: Callable[..., Any] | Tool,
        *,
        name: str | None = None,
        policy: str | None = None,
        needs_kernel: bool = False,
        scope: Callable[[dict[str, Any]], bool] | None = None,
        approves_itself: bool = False,
    ) -> Tool:
        """Add a function (schema built from it) or a ready Tool; returns the Tool."""
        if isinstance(func_or_tool, Tool):
            new = func_or_tool
            if name is not None:
                _check_name(name)
                new = replace(new, name=name)
            if policy is not None:
                new = replace(new, policy=check_policy(policy, new.name))
            if needs_kernel:
                new = replace(new, needs_kernel=True)
        else:
            new = Tool.from_function(
                func_or_tool, name=name, policy=policy or "allow", needs_kernel=needs_kernel
            )
        if scope is not None:
            new = replace(new, scope=scope)
        if approves_itself:
            new = replace(new, approves_itself=True)
        with self._lock:
            self._tools[new.name] = new
        return new

    def unregister(self, name: str) -> None:
        with self._lock:
            self._tools.pop(name, None)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self._tools.values()]

    def copy(self) -> ToolRegistry:
        return ToolRegistry(list(self._tools.values()))

    def update(self, other: ToolRegistry) -> None:
        """Add every tool of ``other`` (its tools win on a name clash)."""
        for t in other:
            self.register(t)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names()!r})"


USER_TOOLS = ToolRegistry()
"""Tools added from notebooks with ``@hermes_nb.tool``; the agent offers them with the built-ins."""


@overload
def tool(func: F, *, name: str | None = ..., policy: str = ..., needs_kernel: bool = ...) -> F: ...


@overload
def tool(
    func: None = ..., *, name: str | None = ..., policy: str = ..., needs_kernel: bool = ...
) -> Callable[[F], F]: ...


def tool(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    policy: str = "allow",
    needs_kernel: bool = False,
) -> Any:
    """Offer a function to the agent: ``@hermes_nb.tool`` or ``@hermes_nb.tool(policy="ask")``.

    The function stays callable as before. Its type hints and docstring become the
    schema the model sees; ``needs_kernel=True`` runs it on the cell's thread (for
    code that displays output or touches widgets).
    """

    def decorate(f: F) -> F:
        USER_TOOLS.register(f, name=name, policy=policy, needs_kernel=needs_kernel)
        return f

    if func is not None:
        return decorate(func)
    return decorate
