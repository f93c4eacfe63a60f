"""The windowed session-file parser gives what ``json.loads`` gives, or refuses alike."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import pytest

from hermes_nb.store import jsonstream

DOCUMENTS: list[bytes] = [
    b"{}",
    b"  { }  ",
    b'{"session_id":"s","messages":[]}',
    b'{"messages":[{"role":"user","content":"h\\u00e9llo \\ud83d\\ude00 \\"q\\""},{"role":"tool","content":null}],"n":-12.5e3}',
    '{"messages": [ {"content": "ünïcødé 😀 across windows"} , {"content": "€€€€"} ] , "title": "t"}'.encode(),
    b'{"a": 1, "a": 2, "b": [1, 2, [3, [4]], {"c": true}], "d": false, "e": null, "f": 123456789012345678901234567890}',
    b'\xef\xbb\xbf{"bom": [1]}',
    b'{"x": [] , "y" :[ ] ,"z":{"messages":[1]}}\n',
    b'{"lone": "\\udcff", "nan": NaN, "inf": [Infinity, -Infinity]}',
    b"[1, 2, 3]",
    b'"just a string"',
    b"42",
]

INVALID: list[bytes] = [
    b"",
    b"   ",
    b"{",
    b'{"a": 1',
    b'{"a": [1, 2}',
    b'{"a" 1}',
    b'{"a": 1,}',
    b'{"a": [1,]}',
    b'{"a": 1} x',
    b'{"a": 1}{}',
    b'{a: 1}',
    b'{"a": "unterminated}',
    b'{"a": tru}',
    b'{"a": "\xff"}',
    b"[1, 2",
]


def _parse(raw: bytes, window: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(jsonstream, "_WINDOW", window)
    with tempfile.TemporaryFile() as fh:
        fh.write(raw)
        fh.flush()
        fh.seek(0)
        return jsonstream.load_object(fh.fileno(), 1 << 30)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize("window", [1, 2, 3, 5, 7, 64, 1 << 20])
def test_every_document_parses_as_json_loads_parses_it_whatever_the_window(
    window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for raw in DOCUMENTS:
        assert _same(_parse(raw, window, monkeypatch), json.loads(raw)), raw


@pytest.mark.parametrize("window", [1, 3, 1 << 20])
def test_what_json_loads_refuses_is_refused(window: int, monkeypatch: pytest.MonkeyPatch) -> None:
    for raw in INVALID:
        with pytest.raises(ValueError):
            json.loads(raw)
        with pytest.raises(ValueError):
            _parse(raw, window, monkeypatch)


def test_a_file_growing_past_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = json.dumps({"messages": ["x" * 100] * 50}).encode()
    monkeypatch.setattr(jsonstream, "_WINDOW", 64)
    with tempfile.TemporaryFile() as fh:
        fh.write(raw)
        fh.seek(0)
        with pytest.raises(OverflowError):
            jsonstream.load_object(fh.fileno(), len(raw) - 1)
        fh.seek(0)
        assert len(jsonstream.load_object(fh.fileno(), len(raw))["messages"]) == 50


def test_deep_nesting_is_a_recursion_error_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = b'{"messages": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(RecursionError):
        _parse(raw, 1 << 20, monkeypatch)


def test_a_big_session_is_parsed_in_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read is about a window: the parser never asks for the whole file at once."""
    data = {"session_id": "big", "messages": [{"role": "user", "content": f"{i} " + "y" * 500} for i in range(2000)]}
    raw = json.dumps(data).encode()
    reads: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        reads.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", counting_read)
    assert _parse(raw, 64 * 1024, monkeypatch) == data
    assert len(raw) > 10 * 64 * 1024 and max(reads) <= 2 * 64 * 1024


def test_the_store_reads_big_files_through_it(session_dir: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions over ``STREAM_ABOVE`` load through the windowed parser, corrupt ones
    are moved aside as before."""
    from hermes_nb import models
    from hermes_nb.store import diskstate

    monkeypatch.setattr(diskstate, "STREAM_ABOVE", 0)
    monkeypatch.setattr(jsonstream, "_WINDOW", 50)
    messages = [{"role": "user", "content": f"{i} ünï 😀 \udcff " + "z" * (i % 70)} for i in range(300)]
    session = models.Session(session_id="streamed", title="Streamed", messages=messages)
    session.save()
    loaded = models.Session.load("streamed")
    assert loaded is not None and loaded.messages == messages and loaded.title == "Streamed"
    raw = session.path.read_bytes()
    session.path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(models.CorruptSessionError):
        models.Session.load("streamed")
    assert list(session.path.parent.glob("streamed.json.corrupt-*"))
