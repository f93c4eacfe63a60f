"""``hermes_nb.models``, kept for code written against it: sessions live in
``hermes_nb.store.sessions``, and this name is that very module."""

import sys

from hermes_nb.store import sessions

sys.modules[__name__] = sessions
