"""Tool images: bounded, kept beside the session by reference, sent to vision models only."""

from __future__ import annotations

import base64
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from hermes_nb.agent.history import to_provider_messages
from hermes_nb.agent.images import (
    MAX_IMAGES_PER_REQUEST,
    MAX_SIDE,
    ImageStore,
    ToolImage,
    image_size,
    images_from_bundles,
    prepare,
)
from hermes_nb.agent.loop import Agent
from hermes_nb.agent.providers.anthropic_messages import to_anthropic
from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.agent.tools import ToolOutput, ToolRegistry
from hermes_nb.agent.vision import accepts_images, parse_setting


def png(width: int = 64, height: int = 48, noise: bool = False) -> bytes:
    if noise:
        import os

        im = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        im = Image.new("RGB", (width, height), (200, 30, 30))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def test_images_come_from_display_bundles_and_their_size_from_the_header() -> None:
    data = png(64, 48)
    bundles = [
        {"data": {"text/plain": "<Figure>", "image/png": base64.b64encode(data).decode()}},
        {"data": {"text/html": "<b>table</b>"}},
        {"data": {"image/jpeg": b"\xff\xd8\xffraw"}},  # the bytes are checked, not the label
        {"data": {"image/png": base64.b64encode(b"<script>alert(1)</script>").decode()}},
    ]
    found = images_from_bundles(bundles)
    assert [i.mime for i in found] == ["image/png", "image/jpeg"]
    assert found[0].data == data
    assert image_size(data) == (64, 48)


def test_a_large_image_is_scaled_down_and_a_small_one_kept() -> None:
    small = ToolImage(png(100, 80))
    assert prepare(small) == small
    big = prepare(ToolImage(png(4000, 1000)))
    assert big is not None and image_size(big.data) == (MAX_SIDE, MAX_SIDE // 4)
    assert prepare(ToolImage(b"<svg/>", "image/svg+xml")) is None


def test_the_store_writes_files_beside_the_session_and_refuses_foreign_paths(tmp_path: Path) -> None:
    store = ImageStore(tmp_path, "20250101_120000_abcdef12")
    ref = store.save(ToolImage(png()))
    assert ref["path"].startswith("20250101_120000_abcdef12.files/") and ref["path"].endswith(".png")
    assert (ref["width"], ref["height"], ref["mime"]) == (64, 48, "image/png")
    assert (tmp_path / ref["path"]).read_bytes() == png()
    assert store.load(ref) == png()
    assert store.save(ToolImage(png()))["path"] == ref["path"]  # same image, same file
    assert store.load({"path": "../../etc/passwd"}) is None
    assert store.load({"path": "x.files/../../secret.png"}) is None
    other_session = ImageStore(tmp_path, "another")
    assert other_session.load(ref) == png()  # a fork or a compressed session still finds it


def _history(n_images: int = 1) -> list[dict[str, Any]]:
    store_refs = [{"path": f"s.files/{i:032x}.png", "mime": "image/png", "width": 10, "height": 5} for i in range(n_images)]
    return [
        {"role": "user", "content": "plot it"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "python", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "[1 figure displayed]", "images": store_refs},
    ]


def test_a_vision_request_carries_the_images_after_the_tool_results() -> None:
    sent = to_provider_messages(_history(), images=lambda ref: "data:image/png;base64,AAAA")
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert sent[2]["content"] == "[1 figure displayed]\n[1 image (PNG 10×5) attached in the next message]"
    assert sent[3]["content"] == [
        {"type": "text", "text": "Image from tool call c1:"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    system, anthropic = to_anthropic(sent)
    blocks = anthropic[-1]["content"]
    assert [b["type"] for b in blocks] == ["tool_result", "text", "image"]
    assert blocks[2]["source"] == {"type": "base64", "media_type": "image/png", "data": "AAAA"}


def test_a_text_only_request_gets_one_line_instead() -> None:
    sent = to_provider_messages(_history())
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[2]["content"].endswith("\n[1 image (PNG 10×5) shown to the user; not sent, this model does not accept images]")


def test_only_the_newest_images_are_sent_and_a_missing_file_is_said() -> None:
    sent = to_provider_messages(_history(MAX_IMAGES_PER_REQUEST + 2), images=lambda ref: "data:image/png;base64,AAAA")
    parts = [p for p in sent[-1]["content"] if p["type"] == "image_url"]
    assert len(parts) == MAX_IMAGES_PER_REQUEST
    assert "attached in the next message, the others were sent earlier" in sent[2]["content"]
    missing = to_provider_messages(_history(), images=lambda ref: None)
    assert missing[-1]["role"] == "tool" and "not attached here" in missing[-1]["content"]


def test_vision_table_and_setting() -> None:
    class P:
        def __init__(self, spec: str, model: str | None = None) -> None:
            self.spec, self.model = spec, model

    for spec in ("openai:gpt-4o-mini", "anthropic:claude-sonnet-4-5", "openrouter:google/gemini-2.5-flash", "ollama:llava:13b", "openai:gpt-4.1"):
        assert accepts_images(P(spec)), spec
    for spec in ("openai:gpt-3.5-turbo", "ollama:llama3.2", "local:smollm2", "openai:o3-mini", "openai:gpt-4o-audio-preview", "compat:my-model"):
        assert not accepts_images(P(spec)), spec
    assert accepts_images(P("compat:my-model"), ["my-*"])
    assert accepts_images(P("compat:my-model"), "true") and not accepts_images(P("openai:gpt-4o"), False)
    assert parse_setting("my-a, my-b") == ("my-a", "my-b")
    with pytest.raises(ValueError):
        parse_setting(3)
    replay = ReplayProvider(script={"replies": [], "vision": True})
    assert accepts_images(replay) and not accepts_images(ReplayProvider(script={"replies": []}))


def test_the_loop_saves_references_and_sends_the_image_on_the_next_request(tmp_path: Path) -> None:
    image = png(32, 32)

    def draw() -> ToolOutput:
        return ToolOutput("[1 figure displayed]", images=(ToolImage(image),))

    tools = ToolRegistry()
    tools.register(draw)
    script = {"replies": [{"tool_calls": [{"name": "draw", "arguments": {}}]}, "A red square."], "vision": True}
    provider = ReplayProvider(script=script)
    agent = Agent(provider, tools, images=ImageStore(tmp_path, "sid"), vision=True)
    result = agent.run([], "draw", lambda e: None, threading.Event())
    assert result.text == "A red square."
    stored = [m for m in result.messages if m["role"] == "tool"][0]
    assert stored["images"][0]["path"].startswith("sid.files/") and "base64" not in json.dumps(result.messages)
    second = provider.requests[1]
    url = second[-1]["content"][1]["image_url"]["url"]
    assert base64.b64decode(url.split(",", 1)[1]) == image

    blind = ReplayProvider(script={"replies": script["replies"]})
    Agent(blind, tools, images=ImageStore(tmp_path, "sid"), vision=False).run([], "draw", lambda e: None, threading.Event())
    assert "image_url" not in json.dumps(blind.requests[1])


def test_an_mcp_tools_image_reaches_a_vision_model(tmp_path: Path) -> None:
    """An image in an MCP result goes the way of the python tool's figures."""
    from types import SimpleNamespace as NS

    from hermes_nb.mcp.results import to_tool_output

    image = png(16, 8)
    result = NS(content=[NS(type="image", mime_type="image/png", data=base64.b64encode(image).decode())],
                structured_content=None, is_error=False)

    def chart() -> ToolOutput:
        return to_tool_output(result)

    tools = ToolRegistry()
    tools.register(chart)
    script = {"replies": [{"tool_calls": [{"name": "chart", "arguments": {}}]}, "A chart."], "vision": True}
    provider = ReplayProvider(script=script)
    Agent(provider, tools, images=ImageStore(tmp_path, "sid"), vision=True).run([], "chart", lambda e: None, threading.Event())
    url = provider.requests[1][-1]["content"][1]["image_url"]["url"]
    assert base64.b64decode(url.split(",", 1)[1]) == image
