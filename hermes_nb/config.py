"""``hermes_nb.config``, kept for code written against it: the session locks live in
``hermes_nb.store.locks`` and the notebook's location in
``hermes_nb.kernel.notebook_location``."""

from hermes_nb.kernel.notebook_location import NotebookLocation, find_notebook, session_dir_for
from hermes_nb.store.locks import *  # noqa: F403
from hermes_nb.store.locks import (
    FILE_LOCK_POLL,
    SESSION_AGENT_LOCKS,
    SESSION_AGENT_LOCKS_LOCK,
    RunLock,
    SessionLock,
    _get_session_agent_lock,
    acquire_os_file_lock,
    alias_session_lock,
    os_file_lock,
    run_lock,
    save_lock_path,
    session_file_lock,
)

__all__ = [
    "FILE_LOCK_POLL",
    "SESSION_AGENT_LOCKS",
    "SESSION_AGENT_LOCKS_LOCK",
    "NotebookLocation",
    "RunLock",
    "SessionLock",
    "_get_session_agent_lock",
    "acquire_os_file_lock",
    "alias_session_lock",
    "find_notebook",
    "os_file_lock",
    "run_lock",
    "save_lock_path",
    "session_dir_for",
    "session_file_lock",
]
