"""What the agent learns about the notebook beyond the user's words: kernel variables
named with ``@name``, a summary of the namespace, and the notebook file's cells."""

from __future__ import annotations

from hermes_nb.context.variables import (
    build_context,
    describe,
    mentions,
    namespace_summary,
    render_context,
)

__all__ = ["build_context", "describe", "mentions", "namespace_summary", "render_context"]
