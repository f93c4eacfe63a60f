"""nbval settings for the example notebooks.

The live view's ``application/vnd.hermes-nb.run+json`` entry names a session and a
run by their random ids, so, like the widget view's model id (which nbval already
leaves out), it is not compared.
"""

from __future__ import annotations

from typing import Any

RUN_MIME = "application/vnd.hermes-nb.run+json"


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    for item in items:
        notebook = getattr(item, "parent", None)
        skip = getattr(notebook, "skip_compare", None)
        if isinstance(skip, tuple) and RUN_MIME not in skip:
            notebook.skip_compare = (*skip, RUN_MIME)
