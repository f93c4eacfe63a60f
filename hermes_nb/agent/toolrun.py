"""Running one tool call for the loop: arguments, approval, execution, truncation.

Whatever goes wrong here becomes the tool's result, phrased for the model, so the
run goes on and the history stays valid. Only cancel stops the run.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from hermes_nb.agent.tools.capture import Tap, tapping
from hermes_nb.agent.tools.registry import Tool, ToolOutput, ToolRegistry, asking_through
from hermes_nb.errors import ToolError
from hermes_nb.safety.depth import TooDeepError, loads_bounded
from hermes_nb.safety.redact import redact

__all__ = ["CANCELLED", "Approver", "KernelRunner", "OutputTap", "ToolRunner", "parse_arguments", "truncate"]

log = logging.getLogger("hermes_nb.agent")

CANCELLED = "Cancelled by the user."

#: answers True (run it), False (the user said no) or None (nobody could be asked)
Approver = Callable[[str, dict[str, Any]], "bool | None"]
KernelRunner = Callable[[Callable[[], ToolOutput]], ToolOutput]
#: receives ``(call id, stream name, text)`` as a running tool prints it, from the printing thread
OutputTap = Callable[[str, str, str], None]

_WAIT = 0.05  # seconds between cancel checks while a tool runs on a worker thread
_GRACE = 0.3  # on cancel, time a tool gets to stop by itself (shell kills its command)


class Cancelled(Exception):
    """The run was cancelled while this tool call was pending."""


def parse_arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """(arguments, error) from the model's JSON; an empty string means no arguments."""
    if not raw or not raw.strip():
        return {}, None
    try:
        value = loads_bounded(raw)
    except TooDeepError as exc:
        return {}, f"the arguments are {exc}; the call was not run"
    except json.JSONDecodeError as exc:
        return {}, f"the arguments are not valid JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(value, dict):
        return {}, f"the arguments must be a JSON object, not {type(value).__name__}"
    return value, None


def truncate(text: str, limit: int) -> str:
    """Keep the head and the tail (errors are often at the end) with a note in between."""
    if limit <= 0 or len(text) <= limit:
        return text
    head = int(limit * 0.8)
    tail = limit - head
    omitted = len(text) - head - tail
    note = (
        f"\n\n[... result truncated: {omitted} of {len(text)} characters omitted; "
        "ask for a smaller part if you need them ...]\n\n"
    )
    return text[:head] + note + text[len(text) - tail :]


@dataclass
class ToolRunner:
    """Decides whether a call may run, runs it where it must, and reports the result."""

    tools: ToolRegistry
    policies: Mapping[str, str]
    approve: Approver | None
    kernel_runner: KernelRunner | None
    max_result_chars: int
    output_tap: OutputTap | None = None

    def run(self, name: str, raw_arguments: str, cancel: threading.Event, call_id: str = "") -> ToolOutput:
        """The result the model sees for one call; raises Cancelled on cancel.

        What the tool prints while it runs also goes to ``output_tap``, under ``call_id``.
        """
        arguments, problem = parse_arguments(raw_arguments)
        if problem is not None:
            return ToolOutput(
                f"Error: {problem}. The tool {name!r} was not run; call it again with "
                "arguments as one JSON object matching its schema.",
                is_error=True,
            )
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(self.tools.names()) or "none"
            return ToolOutput(f"Error: there is no tool named {name!r}. Available tools: {known}.", is_error=True)
        refusal = self._check_policy(tool, arguments, cancel)
        if refusal is not None:
            return refusal
        output = self._execute(tool, arguments, cancel, self._tap(call_id))
        text = redact(truncate(output.text, self.max_result_chars), headers=False)  # print(os.environ)
        if text != output.text:
            output = replace(output, text=text)
        return output

    def policy_of(self, tool: Tool) -> str:
        return self.policies.get(tool.name, tool.policy)

    def _check_policy(
        self, tool: Tool, arguments: dict[str, Any], cancel: threading.Event
    ) -> ToolOutput | None:
        policy = self.policy_of(tool)
        if policy == "folder":
            policy = "allow" if tool.stays_inside(arguments) else "ask"
        if policy == "allow" or (policy == "ask" and tool.approves_itself):
            return None
        if policy == "deny":
            return ToolOutput(
                f"Denied by the user's policy: the tool {tool.name!r} is not allowed in this "
                "notebook. Do not call it again; find another way or tell the user.",
                is_error=True,
            )
        if self.approve is None:
            return _nobody_to_ask(tool.name)
        try:
            answer = self.approve(tool.name, arguments)
        except Exception as exc:  # the approval prompt failed: refuse, never run unasked
            log.debug("approval callback failed", exc_info=True)
            answer = False
            if cancel.is_set():
                raise Cancelled from exc
        if cancel.is_set():
            raise Cancelled
        if answer is None:
            return _nobody_to_ask(tool.name)
        if not answer:
            return ToolOutput(
                f"The user declined this call of {tool.name!r}. Do not repeat it without asking.",
                is_error=True,
            )
        return None

    def _tap(self, call_id: str) -> Tap | None:
        tap = self.output_tap
        if tap is None:
            return None
        return lambda stream, text: tap(call_id, stream, text)

    def _execute(
        self, tool: Tool, arguments: dict[str, Any], cancel: threading.Event, tap: Tap | None = None
    ) -> ToolOutput:
        def call() -> ToolOutput:  # on the thread the tool runs on: the tap is set there
            try:
                with tapping(tap), asking_through(None if tool.needs_kernel else self.kernel_runner):
                    return tool.call(arguments, cancel, self.policy_of(tool))
            except ToolError as exc:
                return ToolOutput(f"Error: {exc}", is_error=True)
            except (Exception, SystemExit) as exc:
                log.debug("tool %s raised", tool.name, exc_info=True)
                return ToolOutput(f"Error: the tool raised {type(exc).__name__}: {exc}", is_error=True)

        if tool.needs_kernel:
            return self._on_kernel(call, cancel)
        return _in_worker(call, cancel, tool.name)

    def _on_kernel(self, call: Callable[[], ToolOutput], cancel: threading.Event) -> ToolOutput:
        if self.kernel_runner is None:
            return call()
        try:
            output = self.kernel_runner(call)
        except Exception as exc:
            if cancel.is_set():
                raise Cancelled from exc
            return ToolOutput(f"Error: could not run the tool in the kernel: {exc}", is_error=True)
        if not isinstance(output, ToolOutput):
            if cancel.is_set():
                raise Cancelled
            return ToolOutput("Error: the kernel returned no result for this tool.", is_error=True)
        return output


def _in_worker(call: Callable[[], ToolOutput], cancel: threading.Event, name: str) -> ToolOutput:
    """Run ``call`` on a daemon thread so cancel returns promptly even if the tool does not.

    A cancelled tool gets a moment to stop by itself (``shell`` watches the cancel and
    kills its command); one that does not keeps running until it returns (Python
    threads cannot be killed) and its result is discarded.
    """
    box: list[ToolOutput | BaseException] = []
    done = threading.Event()

    def target() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # delivered to the loop's thread below
            box.append(exc)
        finally:
            done.set()

    threading.Thread(target=target, name=f"hermes_nb-tool-{name}", daemon=True).start()
    while not done.wait(_WAIT):
        if cancel.is_set():
            done.wait(_GRACE)
            raise Cancelled
    result = box[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _nobody_to_ask(name: str) -> ToolOutput:
    return ToolOutput(
        f"Not run: the tool {name!r} needs the user's approval and there is no way "
        "to ask for it here (no interactive frontend), so it was denied. Tell the user "
        "what you wanted to do so they can allow it or do it themselves.",
        is_error=True,
    )
