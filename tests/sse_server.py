"""A real, scripted HTTP server speaking the OpenAI and Anthropic streaming protocols.

Each request takes the next reply of the script (see ``tests/sse_protocols.py`` for
the reply format and the builders below). ``POST .../chat/completions`` answers in
the OpenAI chat-completions SSE protocol, ``POST .../messages`` in Anthropic's. Every
request body is recorded so tests can assert what the model was sent.

In a test (thread in this process)::

    with ScriptedServer([text_reply("Hello", " world")]) as server:
        client = openai.OpenAI(base_url=server.url, api_key="test")
        ...
        server.requests[0].body["messages"]

From another process (real kernels, benchmarks)::

    python tests/sse_server.py --script replies.json --port-file port.txt \\
        [--record requests.jsonl] [--loop]

or ``with ServerProcess(replies) as proc: proc.url`` which does exactly that.
The CLI writes the port to ``--port-file`` once it listens and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cache_sim import CacheSimulator  # noqa: E402
from sse_protocols import Segment, render_anthropic, render_error, render_openai  # noqa: E402

__all__ = [
    "RecordedRequest",
    "ScriptedServer",
    "ServerProcess",
    "drop_reply",
    "empty_delta_reply",
    "error_reply",
    "keepalive_reply",
    "malformed_reply",
    "stall_reply",
    "text_reply",
    "token_stream",
    "tool_reply",
]

_WRITE_SIZE = 64 * 1024


# ---------------------------------------------------------------- reply builders


def text_reply(*parts: str, usage: tuple[int, int] | None = (12, 7), reasoning: str = "") -> dict[str, Any]:
    """A plain text answer streamed as one delta per part."""
    steps: list[dict[str, Any]] = [{"reasoning": reasoning}] if reasoning else []
    steps += [{"text": part} for part in parts]
    if usage is not None:
        steps.append({"usage": {"input": usage[0], "output": usage[1]}})
    steps.append({"finish": "stop"})
    return {"steps": steps}


def tool_reply(
    calls: Iterable[tuple[str, str, dict[str, Any] | str]],
    *,
    text: str = "",
    pieces: int = 3,
    usage: tuple[int, int] | None = (20, 9),
) -> dict[str, Any]:
    """Tool calls ``(call_id, name, arguments)``, each argument JSON split into ``pieces`` deltas."""
    steps: list[dict[str, Any]] = [{"text": text}] if text else []
    for index, (call_id, name, arguments) in enumerate(calls):
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        size = max(1, -(-len(raw) // pieces))
        chunks = [raw[i : i + size] for i in range(0, len(raw), size)] or [""]
        steps.append({"tool_call": {"index": index, "id": call_id, "name": name, "arguments": chunks[0]}})
        steps += [{"tool_call": {"index": index, "arguments": c}} for c in chunks[1:]]
    if usage is not None:
        steps.append({"usage": {"input": usage[0], "output": usage[1]}})
    steps.append({"finish": "tool_calls"})
    return {"steps": steps}


def error_reply(status: int, message: str = "", *, retry_after: float | None = None, code: str | None = None) -> dict[str, Any]:
    """A non-streaming error answer, e.g. 429 with ``Retry-After``."""
    reply: dict[str, Any] = {"status": status, "error": message or f"HTTP {status} from the test server"}
    if retry_after is not None:
        reply["headers"] = {"Retry-After": f"{retry_after:g}"}
    if code is not None:
        reply["code"] = code
    return reply


def token_stream(n: int, word: str = "tok ", usage: bool = True) -> dict[str, Any]:
    """``n`` one-word text deltas, rendered and sent as fast as the socket takes them."""
    steps: list[dict[str, Any]] = [{"tokens": n, "word": word}]
    if usage:
        steps.append({"usage": {"input": 10, "output": n}})
    steps.append({"finish": "stop"})
    return {"steps": steps}


def stall_reply(seconds: float = 60.0, before: str = "Thinking") -> dict[str, Any]:
    """Some text, then silence (the connection stays open) — for cancel tests."""
    return {"steps": [{"text": before}, {"stall": seconds}, {"text": " too late"}, {"finish": "stop"}]}


def keepalive_reply(seconds: float = 60.0, every: float = 0.1, before: str = "") -> dict[str, Any]:
    """(Some text, then) SSE keep-alive comments and no content, for ``seconds``."""
    steps: list[dict[str, Any]] = [{"text": before}] if before else []
    return {"steps": [*steps, {"keepalive": seconds, "every": every}, {"finish": "stop"}]}


def empty_delta_reply(seconds: float = 60.0, every: float = 0.1) -> dict[str, Any]:
    """Chunks whose text delta is empty, for ``seconds`` (OpenAI protocol)."""
    return {"steps": [{"empty_deltas": seconds, "every": every}, {"finish": "stop"}]}


def drop_reply(before: str = "Partial") -> dict[str, Any]:
    """Some text, then the connection is cut without finishing the body."""
    return {"steps": [{"text": before}, {"drop": True}]}


def malformed_reply(before: str = "Partial") -> dict[str, Any]:
    """Some text, then a chunk that is not JSON."""
    return {"steps": [{"text": before}, {"malformed": True}, {"finish": "stop"}]}


# ---------------------------------------------------------------- the server


@dataclass
class RecordedRequest:
    """One request as the server saw it: header names lower-cased, ``at`` = ``time.time()`` on arrival."""

    path: str
    headers: dict[str, str]
    body: Any
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "headers": self.headers, "body": self.body, "at": self.at}


@dataclass
class _State:
    replies: list[dict[str, Any]]
    loop: bool = False
    record_file: str | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    disconnects: list[float] = field(default_factory=list)
    next_index: int = 0
    rendered: dict[tuple[int, str, bool, str], list[Segment]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    #: the ``data`` of ``GET /models``; ``props``: llama.cpp's ``GET /props`` (None: 404)
    models: list[dict[str, Any]] = field(default_factory=lambda: [{"id": "test-model", "object": "model"}])
    props: dict[str, Any] | None = None
    gets: list[str] = field(default_factory=list)
    #: a model that cannot take tools: any request carrying ``tools`` gets HTTP 400
    #: with this message (as Ollama answers), without using up a reply of the script
    refuse_tools: str | None = None
    #: report usage as a provider with prompt caching would (see cache_sim.py)
    cache: CacheSimulator | None = None

    def refuse(self, request: RecordedRequest) -> bool:
        """Record a request with tools that the server refuses; True if it does."""
        body = request.body
        if self.refuse_tools is None or not (isinstance(body, dict) and body.get("tools")):
            return False
        with self.lock:
            self.requests.append(request)
        return True

    def take(self, request: RecordedRequest) -> tuple[int, dict[str, Any] | None]:
        """Record the request and pick its reply (None once the script is used up)."""
        with self.lock:
            self.requests.append(request)
            if self.record_file:
                with open(self.record_file, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(request.to_dict()) + "\n")
            index = self.next_index
            self.next_index += 1
            if self.loop and self.replies:
                index %= len(self.replies)
            if index >= len(self.replies):
                return index, None
            return index, self.replies[index]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        pass

    def do_GET(self) -> None:  # noqa: N802
        state = self.server.state
        with state.lock:
            state.gets.append(self.path)
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": state.models})
        elif self.path.rstrip("/").endswith("/props") and state.props is not None:
            self._json(200, state.props)
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw or b"null")
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/chat/completions"):
            protocol = "openai"
        elif path.endswith("/messages"):
            protocol = "anthropic"
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        state = self.server.state
        recorded = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
        if state.refuse(recorded):
            self._raw(400, render_error({"status": 400, "error": state.refuse_tools}, protocol), {})
            return
        index, reply = state.take(recorded)
        if reply is None:
            message = f"test server script exhausted after {len(state.replies)} replies"
            self._raw(400, render_error({"status": 400, "error": message}, protocol), {})
            return
        if "stall_before_headers" in reply:
            self._stall(float(reply["stall_before_headers"]))
            self.close_connection = True
            return
        status = int(reply.get("status", 200))
        if status != 200:
            self._raw(status, render_error(reply, protocol), reply.get("headers", {}))
            return
        model = body.get("model", "test-model") if isinstance(body, dict) else "test-model"
        include_usage = bool(isinstance(body, dict) and (body.get("stream_options") or {}).get("include_usage"))
        key = (index, protocol, include_usage, str(model))
        if state.cache is not None and isinstance(body, dict):
            usage = state.cache.usage(protocol, body)
            output = next((s["usage"].get("output", 0) for s in reply.get("steps", []) if "usage" in s), 1)
            steps = [s for s in reply.get("steps", []) if "usage" not in s]
            reply = {**reply, "steps": [{"usage": {**usage, "output": output}}, *steps]}
            key = (-1, "", False, "")  # never kept: each request's usage differs
        with state.lock:
            segments = state.rendered.get(key)
        if segments is None:
            if protocol == "openai":
                segments = render_openai(reply, str(model), include_usage)
            else:
                segments = render_anthropic(reply, str(model))
            if key[0] >= 0:
                with state.lock:
                    state.rendered[key] = segments
        self._stream(segments)

    # -- helpers

    def _json(self, status: int, payload: Any) -> None:
        self._raw(status, json.dumps(payload).encode(), {})

    def _raw(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, segments: list[Segment]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for kind, value in segments:
                if kind == "bytes":
                    for start in range(0, len(value), _WRITE_SIZE):
                        piece = value[start : start + _WRITE_SIZE]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                elif kind == "sleep":
                    time.sleep(float(value))
                elif kind == "stall":
                    if self._stall(float(value)):
                        return
                elif kind == "drop":
                    self._drop()
                    return
                elif kind == "repeat":
                    if self._repeat(*value):
                        return
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _stall(self, seconds: float) -> bool:
        """Wait silently; return True (and record it) if the client hung up meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.server.state.stop.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.02)
            if readable:
                try:
                    gone = self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    gone = True
                if gone:
                    with self.server.state.lock:
                        self.server.state.disconnects.append(time.time())
                    self.close_connection = True
                    return True
        return False

    def _repeat(self, data: bytes, every: float, seconds: float) -> bool:
        """Write ``data`` every ``every`` s for ``seconds``; True if the client hung up."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.server.state.stop.is_set():
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            except OSError:
                with self.server.state.lock:
                    self.server.state.disconnects.append(time.time())
                self.close_connection = True
                return True
            time.sleep(every)
        return False

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up is part of the tests; anything else is printed."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class ScriptedServer:
    """The scripted server on 127.0.0.1 and a random port, served from a thread."""

    def __init__(
        self,
        replies: Iterable[dict[str, Any]] = (),
        *,
        port: int = 0,
        loop: bool = False,
        record_file: str | None = None,
        models: list[dict[str, Any]] | None = None,
        props: dict[str, Any] | None = None,
        refuse_tools: str | None = None,
        cache: bool = False,
    ) -> None:
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.state = _State(
            list(replies), loop=loop, record_file=record_file, props=props, refuse_tools=refuse_tools,
            cache=CacheSimulator() if cache else None,
        )
        if models is not None:
            self._httpd.state.models = list(models)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for an OpenAI client (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """Base URL for an Anthropic client (it adds ``/v1/messages`` itself)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._httpd.state.lock:
            return list(self._httpd.state.requests)

    @property
    def gets(self) -> list[str]:
        """Paths of the GET requests (model listings)."""
        with self._httpd.state.lock:
            return list(self._httpd.state.gets)

    @property
    def disconnects(self) -> list[float]:
        """Times at which a client hung up during a stall."""
        with self._httpd.state.lock:
            return list(self._httpd.state.disconnects)

    def push(self, *replies: dict[str, Any]) -> None:
        """Append replies to the script."""
        with self._httpd.state.lock:
            self._httpd.state.replies.extend(replies)

    def start(self) -> ScriptedServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.state.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class ServerProcess:
    """The same server in a child process (no shared GIL): for kernels and benchmarks."""

    def __init__(self, replies: Iterable[dict[str, Any]], *, loop: bool = False) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="hermes-sse-")
        folder = Path(self._dir.name)
        self.script_file = folder / "script.json"
        self.port_file = folder / "port"
        self.record_file = folder / "requests.jsonl"
        self.script_file.write_text(json.dumps(list(replies)), encoding="utf-8")
        args = [sys.executable, __file__, "--script", str(self.script_file), "--port-file", str(self.port_file), "--record", str(self.record_file)]
        if loop:
            args.append("--loop")
        self._proc = subprocess.Popen(args)
        deadline = time.monotonic() + 20
        while not self.port_file.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("sse_server process did not start")
            time.sleep(0.02)
        self.port = int(self.port_file.read_text())
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.root_url = f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[dict[str, Any]]:
        if not self.record_file.exists():
            return []
        lines = self.record_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._dir.cleanup()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    """CLI: serve a script from a JSON file (a list of replies, or {"replies": [...]})."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--script", required=True, help="JSON file: list of replies")
    parser.add_argument("--port-file", help="write the port here once listening")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", help="append each request as a JSON line to this file")
    parser.add_argument("--loop", action="store_true", help="start the script again when used up")
    args = parser.parse_args(argv)
    script = json.loads(Path(args.script).read_text(encoding="utf-8"))
    replies = script["replies"] if isinstance(script, dict) else script
    server = ScriptedServer(replies, port=args.port, loop=args.loop, record_file=args.record)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        if args.port_file:
            tmp = f"{args.port_file}.{os.getpid()}.tmp"
            Path(tmp).write_text(str(server.port), encoding="utf-8")
            os.replace(tmp, args.port_file)
        print(f"sse_server listening on {server.url}", flush=True)
        while not stop.wait(0.2):
            pass


if __name__ == "__main__":
    main()
