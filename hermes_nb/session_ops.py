"""``hermes_nb.session_ops``, kept for code written against it: undo, retry, rename,
delete and fork live in ``hermes_nb.store.session_ops``, and this name is that very
module."""

import sys

from hermes_nb.store import session_ops

sys.modules[__name__] = session_ops
