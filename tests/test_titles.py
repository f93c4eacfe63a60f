"""Session titles and how a run is named: a short whole phrase of the request, set as
the run starts, and the replay script's ``title`` used as the model's."""

from __future__ import annotations

import time

from dead_run import leave_dead_run
from notebook_shell import Notebook

from hermes_nb import streaming
from hermes_nb.kernel.titles import _DANGLING, fallback_title, run_name

LONG = [
    "What is the sum of the first 100 prime numbers and how long does it take to compute",
    "Load sales.csv into a DataFrame and tell me which month had the highest revenue.",
    "Please look at the data in the folder and then compute the statistics of the columns",
    "Plot the monthly revenue of the sales data please",
]


def test_a_cut_title_ends_on_a_whole_word_with_an_ellipsis() -> None:
    for request in LONG:
        title = fallback_title(request)
        assert title.endswith("…") and len(title) <= 48, title
        words = title[:-1].split(" ")
        assert request.startswith(title[:-1]) and request.split(" ")[len(words) - 1] == words[-1], title
        assert words[-1].lower() not in _DANGLING, title


def test_a_short_first_sentence_is_the_whole_title() -> None:
    assert fallback_title("What is the capital of France? Answer in one word.") == "What is the capital of France?"
    assert fallback_title("Load sales.csv\nthen plot the revenue by month") == "Load sales.csv"
    assert fallback_title("   ") == "New session"


def test_an_untitled_run_is_named_by_its_request() -> None:
    assert run_name("New session", "What is 2 + 2? Then double it.") == "What is 2 + 2?"
    assert run_name("Quarterly report", "What is 2 + 2?") == "Quarterly report"
    assert run_name("New session", None) == "New session"


def test_a_run_is_named_by_its_request_as_it_starts(nb: Notebook) -> None:
    nb.run("%agent new").ok()
    sid = nb.current
    peek = f"from hermes_nb import models\nprint('title=' + models.get_session('{sid}', refresh=True).title)"
    nb.use_script({"tool_calls": [{"name": "python", "arguments": {"code": peek}}]}, "Done.")
    nb.run("%%agent\nWhat is the sum of the first 100 prime numbers and how long does it take").ok()
    tool = next(m for m in nb.on_disk()["messages"] if m["role"] == "tool")
    assert "title=What is the sum of the first 100 prime numbers…" in tool["content"]


def test_the_restore_notice_names_an_untitled_run_by_its_request(nb: Notebook) -> None:
    nb.run("%agent new").ok()
    leave_dead_run(nb.current)  # the session's first request, "analyse the data"
    report = streaming.restore_session(nb.current)
    assert report is not None
    assert report.title == "analyse the data"
    assert "New session" not in report.notice() and "analyse the data" in report.markdown()


def test_a_replay_scripts_title_names_the_session(nb: Notebook) -> None:
    path = nb.script("Fine.", title="Quarterly numbers")
    nb.run(f'%config AgentMagics.model = "replay:{path}"').ok()
    nb.run("%%agent\nPlot the monthly revenue please").ok()
    deadline = time.monotonic() + 30
    while nb.on_disk()["title"] != "Quarterly numbers" and time.monotonic() < deadline:
        time.sleep(0.05)  # the title is asked for in the background
    assert nb.on_disk()["title"] == "Quarterly numbers"
