"""The interactive page in a real headless Chromium (Debian's chromium + chromium-driver, driven by
selenium): it loads offline with no console errors and no network request, a screenshot is taken,
and clicking a collapsed pipeline node reveals its inner nodes."""

from __future__ import annotations

import os
import shutil

import pytest
from viz_pipelines import rag

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)),
    reason="needs Debian's chromium and chromium-driver (scripts/test.sh installs them)",
)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1200,900",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=DRIVER)
    driver = webdriver.Chrome(options=opts, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def _visible_ids(driver) -> set[str]:
    return set(driver.execute_script("return window.hnCy.nodes().map(n => n.id())"))


def _click_node(driver, node_id: str, corner: bool = False) -> None:
    """A real mouse click on the node: at its centre, or (an open cluster, whose centre may be
    covered by inner nodes) just inside its top-left corner."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    pos = driver.execute_script(
        "const n = window.hnCy.getElementById(arguments[0]);"
        "if (arguments[1]) { const b = n.renderedBoundingBox({includeLabels: false});"
        "  return [b.x1 + 6, b.y1 + 6]; }"
        "const p = n.renderedPosition(); return [p.x, p.y];",
        node_id,
        corner,
    )
    box = driver.find_element(By.ID, "hn-graph")
    size = box.size
    ActionChains(driver).move_to_element_with_offset(
        box, int(pos[0] - size["width"] / 2), int(pos[1] - size["height"] / 2)
    ).click().perform()


def test_page_loads_offline_and_clicking_expands_and_collapses(browser, tmp_path):
    page = tmp_path / "rag.html"
    rag().visualize(filename=page)
    browser.get(page.as_uri())
    assert browser.execute_script("return typeof window.hnCy") == "object"

    # collapsed at depth 1: the pipeline node, not its inner nodes
    ids = _visible_ids(browser)
    assert {"answer_all", "build_index", "summarize", "questions"} <= ids
    assert "generate" not in ids and "tokenize" not in ids
    labels = browser.execute_script("return window.hnCy.nodes().map(n => n.data('label'))")
    assert any("map over questions (zip)" in lab for lab in labels)
    assert any(lab.startswith("build_index\n") for lab in labels)  # real line breaks

    shot = tmp_path / "collapsed.png"
    assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000

    _click_node(browser, "answer_all")
    ids = _visible_ids(browser)
    assert {"generate", "retrieve"} <= ids  # one level opened
    assert "tokenize" not in ids
    # the opened pipeline is a compound parent of its inner nodes, wired to the outside
    assert (
        browser.execute_script("return window.hnCy.getElementById('generate').parent().id()")
        == "answer_all"
    )
    edges = browser.execute_script(
        "return window.hnCy.edges().map(e => e.source().id() + '>' + e.target().id())"
    )
    assert "generate>summarize" in edges and "build_index>retrieve" in edges

    _click_node(browser, "retrieve")
    assert {"tokenize", "search", "top_k"} <= _visible_ids(browser)
    assert "build_index>search" in browser.execute_script(
        "return window.hnCy.edges().map(e => e.source().id() + '>' + e.target().id())"
    )
    browser.save_screenshot(str(tmp_path / "expanded.png"))

    _click_node(browser, "answer_all", corner=True)  # clicking the open cluster closes it
    ids = _visible_ids(browser)
    assert "generate" not in ids and "answer_all" in ids

    # hover details
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    pos = browser.execute_script(
        "const p = window.hnCy.getElementById('build_index').renderedPosition(); return [p.x, p.y];"
    )
    box = browser.find_element(By.ID, "hn-graph")
    ActionChains(browser).move_to_element_with_offset(
        box, int(pos[0] - box.size["width"] / 2), int(pos[1] - box.size["height"] / 2)
    ).perform()
    tip = browser.find_element(By.ID, "hn-tip")
    assert tip.is_displayed() and "outputs index : Index" in tip.text

    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    # nothing was fetched: every resource is inline
    assert (
        browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        == []
    )
