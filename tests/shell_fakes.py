"""Stand-ins for the kernel's and the terminal's shells, named like the real ones: the
notebook tools tell frontends apart by the shell's class name."""

from __future__ import annotations

from typing import Any

from IPython.core.payload import PayloadManager

__all__ = ["TerminalInteractiveShell", "ZMQInteractiveShell"]


class ZMQInteractiveShell:
    """Named like ipykernel's shell: the tools tell frontends apart by the shell's class."""

    def __init__(self, user_ns: dict[str, Any] | None = None) -> None:
        self.user_ns = user_ns or {}
        self.payload_manager = PayloadManager()


class TerminalInteractiveShell:
    def __init__(self) -> None:
        self.user_ns: dict[str, Any] = {}
        self.rl_next_input: str | None = None

    def set_next_input(self, text: str, replace: bool = False) -> None:
        self.rl_next_input = text
