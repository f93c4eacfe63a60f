"""``@name`` variables and the namespace summary: what the model is told about kernel objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hermes_nb.agent.history import to_provider_messages
from hermes_nb.context import build_context, describe, mentions, namespace_summary, render_context
from hermes_nb.context.variables import MAX_NAMESPACE_CHARS, MAX_VARIABLE_CHARS


def test_mentions_outside_code_only_in_order_without_duplicates() -> None:
    text = (
        "Compare @df with @other_df, then @df again.\n"
        "Not `@inline` code, nor mail me@example.com.\n"
        "```python\n@decorated\ndef f(): ...\n```\n"
        "~~~\n@tilde\n~~~\n"
        "But @after_fence counts, and (@paren) too."
    )
    assert mentions(text) == ["df", "other_df", "after_fence", "paren"]


def test_a_dataframe_is_described_by_shape_dtypes_and_first_rows() -> None:
    df = pd.DataFrame({"city": ["Oslo", "Lima"] * 10, "temp_c": np.arange(20, dtype=float)})
    text = describe("df", df)
    assert text.startswith("@df: pandas DataFrame, 20 rows × 2 columns")
    assert f"columns (dtype): city ({df['city'].dtype}), temp_c (float64)" in text
    assert "first 5 rows:" in text and "Oslo" in text and "Lima" in text
    assert "19.0" not in text  # only the first rows


def test_arrays_series_and_other_objects_are_bounded() -> None:
    arr = np.zeros((300, 400), dtype=np.int16)
    text = describe("arr", arr)
    assert text.startswith("@arr: numpy ndarray, shape (300, 400), dtype int16")
    assert len(text) < 1200
    series = describe("s", pd.Series([1.5, 2.5], name="price"))
    assert "pandas Series 'price', 2 values, dtype float64" in series
    huge = describe("big", list(range(100_000)))
    assert huge.startswith("@big: list of 100000 items = [0, 1, 2") and huge.endswith(", 49, ...]")
    text = describe("long", "x" * 100_000)
    assert len(text) <= MAX_VARIABLE_CHARS + 60


def test_a_secret_from_the_environment_is_masked() -> None:
    env = {"OPENAI_API_KEY": "sk-test-1234567890", "HOME": "/home/me"}
    config = {"key": "sk-test-1234567890", "home": "/home/me"}
    text = describe("config", config, environ=env)
    assert "sk-test-1234567890" not in text and "'key': '***'" in text
    assert "/home/me" in text  # not a secret


def test_a_broken_object_is_described_without_failing() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert describe("b", Broken()) == "@b: test_context.Broken = <repr failed: RuntimeError>"


def test_the_namespace_summary_lists_the_users_names_and_types() -> None:
    import json as json_module

    ns = {
        "__name__": "__main__",
        "_": 3,
        "In": [],
        "get_ipython": print,
        "hidden_at_start": 1,
        "json": json_module,
        "df": pd.DataFrame({"a": [1, 2, 3]}),
        "arr": np.ones((2, 3)),
        "n": 5,
        "name": "x" * 500,
        "items": [1, 2],
        "f": lambda x, y=2: x,
    }
    summary = namespace_summary(ns, hidden={"hidden_at_start"})
    assert summary.splitlines() == [
        "df: DataFrame 3×1",
        "arr: ndarray (2, 3) float64",
        "n: int = 5",
        "name: str",
        "items: list (2 items)",
        "f: function(x, y=2)",
        "modules: json",
    ]


def test_a_crowded_namespace_keeps_the_newest_names_within_the_bound() -> None:
    ns = {f"variable_number_{i}": i for i in range(500)}
    summary = namespace_summary(ns)
    assert len(summary) <= MAX_NAMESPACE_CHARS + 60
    assert summary.startswith("(… ") and "older names not shown" in summary.splitlines()[0]
    assert summary.splitlines()[-1] == "variable_number_499: int = 499"


def test_unknown_names_stay_text_and_the_summary_can_be_left_out() -> None:
    ns = {"df": pd.DataFrame({"a": [1]})}
    blocks = build_context("Look at @df and @missing", ns)
    assert [b["kind"] for b in blocks] == ["variable", "namespace"]
    assert blocks[0]["name"] == "df"
    assert build_context("Look at @missing", ns, with_namespace=False) == []


def test_the_request_carries_the_context_and_only_the_newest_summary() -> None:
    ns = {"df": pd.DataFrame({"a": [1]})}
    first = {"role": "user", "content": "Look at @df", "context": build_context("Look at @df", ns)}
    second = {"role": "user", "content": "More?", "context": build_context("More?", ns)}
    sent = to_provider_messages([first, {"role": "assistant", "content": "ok"}, second])
    assert sent[0]["content"].startswith("Look at @df\n\n[Variables the user referred to with @name")
    assert "kernel namespace" not in sent[0]["content"]  # an old summary is not resent
    assert sent[2]["content"] == "More?\n\n" + render_context(second["context"])
    assert "df: DataFrame 1×1" in sent[2]["content"]


def test_a_repr_raising_system_exit_is_a_note_but_keyboard_interrupt_still_stops() -> None:
    class Exits:
        def __repr__(self) -> str:
            raise SystemExit(3)

    class Interrupted:
        def __repr__(self) -> str:
            raise KeyboardInterrupt

    assert describe("e", Exits()) == "@e: test_context.Exits = <repr failed: SystemExit>"
    assert "SystemExit" in describe("l", [Exits()])
    with pytest.raises(KeyboardInterrupt):
        describe("k", Interrupted())


def test_a_secret_named_string_variable_is_masked() -> None:
    text = describe("GITHUB_PAT", "ghp_abcdefghijklmnop0123", environ={})
    assert "ghp_" not in text and "***" in text
    assert "/usr/bin" in describe("PATH_LIST", "/usr/bin:/bin", environ={})


def test_an_object_whose_class_property_raises_system_exit_is_still_described() -> None:
    class Liar:
        @property
        def __class__(self) -> type:  # type: ignore[override]
            raise SystemExit(1)

    assert describe("API_TOKEN", Liar()) == "@API_TOKEN: test_context.Liar (could not be described: SystemExit)"
    assert describe("x", Liar()) == "@x: test_context.Liar (could not be described: SystemExit)"


def test_a_module_of_a_module_subclass_is_listed_as_a_module() -> None:
    """``hermes_nb.models`` is a module whose class is a ``ModuleType`` subclass (it
    forwards the store's globals); a user who imported it sees it with the modules."""
    import types

    from hermes_nb import models

    class Lazy(types.ModuleType):
        pass

    summary = namespace_summary({"models": models, "lazy": Lazy("lazy"), "n": 3})
    assert "modules: models, lazy" in summary
    assert "_Models" not in summary and "Lazy" not in summary
