"""Every error hermes_nb raises, in one tree.

The message of each is one line a user can act on; the magic prints it in the cell
without a traceback.

    HermesError
    ├── SessionError
    │   ├── InvalidSessionIdError      (also ValueError)
    │   ├── SessionNotFoundError       (also KeyError)
    │   ├── CorruptSessionError
    │   ├── UnreadableSessionError
    │   ├── SessionWriteError        (also OSError)
    │   ├── ReadOnlySessionError
    │   ├── UnsafeSaveError
    │   │   └── SessionChangedError
    │   ├── NothingToUndoError         (also ValueError)
    │   ├── RunClaimedError
    │   └── UnsafePathError
    ├── ProviderError
    │   ├── AuthenticationError
    │   ├── RateLimitError
    │   ├── ProviderUnavailableError
    │   ├── UnknownModelError
    │   └── ModelNotInstalledError
    ├── ToolError
    │   └── McpError
    └── TurnLimitError
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CorruptSessionError",
    "HermesError",
    "InvalidSessionIdError",
    "McpError",
    "ModelNotInstalledError",
    "NothingToUndoError",
    "ProviderError",
    "ProviderUnavailableError",
    "RateLimitError",
    "ReadOnlySessionError",
    "RunClaimedError",
    "SessionChangedError",
    "SessionError",
    "SessionNotFoundError",
    "SessionWriteError",
    "ToolError",
    "TurnLimitError",
    "UnknownModelError",
    "UnreadableSessionError",
    "UnsafePathError",
    "UnsafeSaveError",
]


class HermesError(Exception):
    """Base of every hermes_nb error; ``str(err)`` is the one line shown to the user."""


class SessionError(HermesError):
    """Something is wrong with a stored session."""


class InvalidSessionIdError(SessionError, ValueError):
    """A session id that could escape the sessions folder or is not ours."""


class SessionNotFoundError(SessionError, KeyError):
    """No session with that id in this folder."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "session not found"


class CorruptSessionError(SessionError):
    """A session file did not parse; it was moved aside, never deleted."""


class UnreadableSessionError(SessionError):
    """Something named like a session that is not a readable regular file (a FIFO, a
    device, a folder, a file we may not read or one over the size limit); left alone."""


class UnreadableFileError(HermesError):
    """A file we read for the user (a notebook, an image) that is not a regular file
    within its size limit (a FIFO, a device, a folder, a link where none may be)."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        #: the file is (or grew) over its size limit: a setting may raise the limit
        self.too_large = too_large


class SessionWriteError(SessionError, OSError):
    """The sessions folder cannot be written; the message says where to point it."""


class ReadOnlySessionError(SessionError):
    """A session written by a newer hermes_nb: readable here, never rewritten."""


class UnsafeSaveError(SessionError):
    """A save that would lose data (for example, wipe messages while a run is pending)."""


class SessionChangedError(UnsafeSaveError):
    """Another kernel changed the session in a way that cannot be merged with ours."""


class NothingToUndoError(SessionError, ValueError):
    """Undo or retry on a session without a user message."""


class RunClaimedError(SessionError):
    """The run belongs to another live kernel."""


class UnsafePathError(SessionError):
    """A file we would write is a symbolic link (it could lead anywhere); left alone."""


class ProviderError(HermesError):
    """The model provider failed."""


class AuthenticationError(ProviderError):
    """Missing or rejected API key; the message names the variable to set."""


class RateLimitError(ProviderError):
    """Still rate limited after the allowed retries."""


class ProviderUnavailableError(ProviderError):
    """Server errors or dropped connections after the allowed retries."""


class UnknownModelError(ProviderError):
    """A model spec nobody knows; the message lists what is available."""


class ModelNotInstalledError(ProviderError):
    """A provider whose optional package is missing; the message says what to install."""


class ToolsRefusedError(ProviderError):
    """The server refused a request because the model cannot take tools (the
    provider then sends it again as plain chat)."""


class ToolError(HermesError):
    """A tool could not be found, approved or run."""


class McpError(ToolError):
    """An MCP server's configuration is wrong, or the server cannot be started or reached."""


class TurnLimitError(HermesError):
    """The agent used all its turns without a final answer."""
