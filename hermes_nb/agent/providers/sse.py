"""Server-sent events, read from response lines.

The OpenAI provider reads the event stream itself rather than through the SDK's
typed chunks: building a pydantic model per token cost ~140 us of CPU each in the
kernel process, competing for the GIL with the cell thread that renders. A line
split and ``json.loads`` of a small dict cost a few microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["StreamErrorEvent", "sse_data"]


class StreamErrorEvent(Exception):
    """The server reported an error inside a stream that had started well."""


def sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` of each event, in order; ids, event names and comments are skipped.

    An event ends at a blank line; several ``data:`` lines of one event are joined
    with newlines, as the SSE specification says.
    """
    buffer: list[str] = []
    for line in lines:
        if not line:
            if buffer:
                yield buffer[0] if len(buffer) == 1 else "\n".join(buffer)
                buffer = []
        elif line.startswith("data:"):
            value = line[5:]
            buffer.append(value[1:] if value.startswith(" ") else value)
    if buffer:
        yield "\n".join(buffer)
