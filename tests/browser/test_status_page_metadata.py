"""The status page shows each server's metadata as text in a real headless
Chromium: peer-supplied markup is shown, never run or rendered."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from ..support.cluster import CONTROL_SECRET, Server
from ..support.tools import require_tool
from ..support.waiting import wait_until
from .test_status_page import CHROMIUM_ARGS

MARKUP = '<img src="x" id="injected">'


def test_metadata_is_shown_as_text(servers: Callable[..., Server], http_env: dict[str, str]) -> None:
    chromium = require_tool("chromium", "chromium")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    tagged = servers("tagged", {**http_env, "SHAZBOT_METADATA": json.dumps({"role": "web", "note": MARKUP})})
    plain = servers("plain", http_env)
    wait_until(lambda: len(plain.view()) == 2 and len(tagged.view()) == 2, timeout=30, what="the servers to meet")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(http_credentials={"username": "ops", "password": CONTROL_SECRET})
            page = context.new_page()
            page.goto(plain.url(""))
            # A locator, not wait_for_function: its polling evals a string,
            # which the page's CSP (no 'unsafe-eval') rightly refuses.
            page.locator("#servers tr").nth(1).wait_for(timeout=15_000)
            assert page.locator("#servers tr").count() == 2
            cell = page.locator(f'tr[data-url="{tagged.base_url}"] td.meta')
            assert cell.inner_text() == f"note={MARKUP}, role=web"
            assert page.locator("#injected").count() == 0
            assert page.locator(f'tr[data-url="{plain.base_url}"] td.meta').inner_text() == ""
            assert page.locator("thead th").last.inner_text() == "Metadata"
        finally:
            browser.close()
