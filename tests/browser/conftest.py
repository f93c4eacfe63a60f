"""Fixtures for the browser tests: one ``jupyter lab`` and one chromium for the run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_harness import CHROMIUM, CHROMIUM_ARGS, LabServer, chromium_available, shot, start_lab


@pytest.fixture(scope="session")  # one server for every browser test module (time)
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    root = tmp_path_factory.mktemp("lab-root")
    home = tmp_path_factory.mktemp("lab-home")
    # A restarted kernel has lost the notebook's %config: the resumed run of the kill
    # test takes its model from the environment, as a real setup would.
    server = start_lab(root, home, env_extra={"HERMES_NB_MODEL": "replay:kill.json"})
    try:
        yield server
    finally:
        server.stop()
        log = home / "lab.log"
        if log.exists():
            keep = Path(__file__).parent / "screenshots"
            keep.mkdir(exist_ok=True)
            shutil.copy(log, keep / f"{root.name}-lab.log")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not chromium_available():
        pytest.fail(f"chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_call = report.failed  # type: ignore[attr-defined]


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        if getattr(request.node, "failed_call", False):
            shot(page, f"FAILED-{request.node.name}")
        context.close()

