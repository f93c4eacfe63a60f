"""Markdown rendering of model output: safe, with tables and code."""

from __future__ import annotations

from hermes_nb.ui.markdown import neutralize_html, render_markdown, stable_split


def test_raw_html_is_escaped() -> None:
    html = render_markdown('Hi <script>alert("x")</script> and <img src=x onerror=alert(1)>')
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html


def test_html_block_is_escaped() -> None:
    html = render_markdown("<div onclick='steal()'>\nclick\n</div>\n")
    assert "<div" not in html
    assert "&lt;div" in html


def test_javascript_links_are_refused() -> None:
    html = render_markdown("[click](javascript:alert(1)) and [ok](https://example.org)")
    assert 'href="javascript' not in html
    assert '<a href="https://example.org">ok</a>' in html


def test_basic_markdown_tables_and_code() -> None:
    html = render_markdown(
        "# Title\n\n**bold** *it* `x < y`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "```python\nif x < 1:\n    print('hi')\n```\n\n```\nplain <tag>\n```\n"
    )
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html
    assert "<code>x &lt; y</code>" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert '<pre><code class="language-python">' in html
    assert "print" in html and "&lt;" in html  # highlighted but still escaped
    assert "<pre><code>plain &lt;tag&gt;\n</code></pre>" in html


def test_unknown_language_is_plain_code() -> None:
    html = render_markdown("```nosuchlang\n<b>\n```")
    assert '<code class="language-nosuchlang">&lt;b&gt;' in html


def test_unclosed_fence_while_streaming() -> None:
    html = render_markdown("Here:\n\n```python\nx = '<s>'\n")
    assert "<pre>" in html and "<s>" not in html


def test_neutralize_html_keeps_code() -> None:
    text = "a <b>x</b> `<i>` ``a<b``\n```\n<script>\n```\n    ```\n    <x>\n    ```\nend <y>\n"
    out = neutralize_html(text)
    assert out == (
        "a &lt;b>x&lt;/b> `<i>` ``a<b``\n```\n<script>\n```\n    ```\n    <x>\n    ```\nend &lt;y>\n"
    )
    assert render_markdown(out).count("&lt;b&gt;x") == 1  # renders like the original text


def test_stable_split_cuts_at_paragraphs_outside_fences() -> None:
    para = "Some words in a sentence. " * 10 + "\n\n"
    text = para * 20
    cut = stable_split(text, 0, 1000)
    assert 0 < cut < len(text)
    assert text[cut - 2 : cut] == "\n\n"
    assert render_markdown(text[:cut]) + render_markdown(text[cut:]) == render_markdown(text)
    # never inside a fenced block
    code = "```\n" + ("x = 1\n\ny = 2\n" * 300) + "```\n"
    fenced = "intro\n\n" + code
    cut = stable_split(fenced, 0, 1000)
    assert cut == 0 or cut <= len("intro\n\n")
    # short text: no cut
    assert stable_split("short\n\ntext", 0, 1000) == 0
    # from an offset
    assert stable_split(text, 500, 10_000) == 500
