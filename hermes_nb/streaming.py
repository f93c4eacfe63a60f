"""``hermes_nb.streaming``, kept for code written against it: the run's lifecycle is
``hermes_nb.kernel.run_lifecycle``, and this name is that very module (so that
patching ``hermes_nb.streaming.X`` patches what runs)."""

import sys

from hermes_nb.kernel import run_lifecycle

sys.modules[__name__] = run_lifecycle
