"""What the agent learns about the notebook beyond the user's words: kernel variables
named with ``@name``, a summary of the namespace, and the notebook file's cells.

May import: safety and errors only (a leaf beside the store). The kernel side
gathers the context when a request is sent; the agent renders it into the request.
"""

from __future__ import annotations

from hermes_nb.context.variables import (
    build_context,
    describe,
    mentions,
    namespace_summary,
    render_context,
)

__all__ = ["build_context", "describe", "mentions", "namespace_summary", "render_context"]
