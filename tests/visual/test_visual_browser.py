"""End to end: the page in headless Chromium (Debian's ``chromium``, driven by Playwright).

Needs /usr/bin/chromium (scripts/install-browser.sh) and the ``playwright`` package; Playwright
never downloads a browser here. Under CI=true a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from datapipeline.visual import write_html

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "graph.png"


def _unavailable(reason: str) -> None:
    message = f"{reason}: run scripts/install-browser.sh (Debian chromium + playwright)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        _unavailable("chromium is not installed")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed")
    return path


def _text(page: Any, selector: str) -> str:
    return str(page.locator(selector).inner_text()).strip()


def _visible(page: Any, kind: str) -> int:
    return int(page.evaluate(f"window.graphView.visibleCounts()['{kind}']"))


def test_page_in_headless_chromium(
    small_graph: Path, expected: dict[str, Any], chromium_path: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    html = write_html(tmp_path / "graph.html", small_graph)
    known = expected["publication"]
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 860},
        )
        try:
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.as_uri())
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)

            # every publication drawn at first
            assert _visible(page, "pubmed") == len(expected["pubmed_dates"])
            assert _visible(page, "clinical_trial") == len(expected["trial_dates"])
            assert _text(page, '.count[data-kind="pubmed"]') == "4 / 4"
            tops = page.locator("#top-journals li").all_inner_texts()
            assert [t.replace("★", "").strip() for t in tops] == expected["top_journals"]

            # search a drug: the first match is selected and its details shown
            page.fill("#search", "tetra")
            assert page.locator("#results li").first.inner_text().startswith("TETRACYCLINE")
            page.press("#search", "Enter")
            assert page.evaluate("window.graphView.selected()") == "drug:TETRACYCLINE"
            assert _text(page, "#detail-title") == "TETRACYCLINE"
            assert _text(page, '#details [data-field="atccode"]') == "S03AA"

            # click a publication node on the canvas: its details
            where = page.evaluate(f"window.graphView.screenPosition('{known['id']}')")
            assert where["visible"]
            page.mouse.click(where["x"], where["y"])
            assert page.evaluate("window.graphView.selected()") == known["id"]
            assert _text(page, "#detail-title") == known["title"]
            assert _text(page, '#details [data-field="date"]') == known["date"]
            assert _text(page, '#details [data-field="journal"]') == known["journal"]
            assert _text(page, '#details [data-field="source_id"]') == known["source_id"]
            assert "TETRACYCLINE" in _text(page, "#details-body")

            # a kind filter hides that kind only
            page.uncheck('#kinds input[data-kind="pubmed"]')
            assert _visible(page, "pubmed") == 0
            assert _text(page, '.count[data-kind="pubmed"]') == "0 / 4"
            assert _visible(page, "clinical_trial") == len(expected["trial_dates"])
            page.check('#kinds input[data-kind="pubmed"]')
            assert _visible(page, "pubmed") == 4

            # a date range keeps the publications dated inside it
            page.fill("#date-from", "2020-01-01")
            page.fill("#date-to", "2020-03-31")
            in_range = [d for d in expected["pubmed_dates"] if "2020-01-01" <= d <= "2020-03-31"]
            trials = [d for d in expected["trial_dates"] if "2020-01-01" <= d <= "2020-03-31"]
            assert _visible(page, "pubmed") == len(in_range) == 1
            assert _visible(page, "clinical_trial") == len(trials) == 1
            # journals without a mention in the range go too (pediatrics: 2019 only)
            assert _visible(page, "journal") == 2
            page.click("#reset")
            assert _visible(page, "pubmed") == 4

            page.fill("#search", "DIPHEN")
            page.press("#search", "Enter")
            shot = tmp_path / "graph.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
                DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(DOCS_SCREENSHOT))
        finally:
            context.close()
    assert errors == []
    # the page asked for nothing but itself
    assert requests
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
