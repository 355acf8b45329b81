"""Driving Debian's Chromium with Playwright, for the browser tests and the screenshots."""
from __future__ import annotations

import contextlib
import shutil
import time
from typing import Iterator

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def open_page(url: str, width: int, height: int) -> Iterator:
    """Debian's Chromium on the app at `url`, a page of width × height, once the Sinusoid tab is drawn."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url)
        page.wait_for_selector("#sinusoid-adapt", timeout=30_000)
        try:
            yield page
        finally:
            browser.close()


def draw(page, container: str, points: list[tuple[float, float]]) -> None:
    """Pick the Brush tool in a Sketchpad/ImageEditor, then drag through `points` (fractions of the canvas)."""
    page.locator(f"{container} button[aria-label='Brush']").click()
    canvas = page.locator(f"{container} canvas").first
    box = canvas.bounding_box()
    x0, y0 = box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=3)
    page.mouse.up()
    time.sleep(0.3)


RECORD_STATUS = """selector => {
    window.statusSeen = window.statusSeen || {};
    if (window.statusSeen[selector]) return;
    const node = document.querySelector(selector);
    const seen = window.statusSeen[selector] = [node.innerText];
    seen.observer = new MutationObserver(() => {
        if (node.innerText !== seen[seen.length - 1]) seen.push(node.innerText);
    });
    seen.observer.observe(node, {childList: true, subtree: true, characterData: true});
}"""


def record_status(page, selector: str) -> None:
    """Record in the page every text the status at `selector` shows from now on, however briefly (for
    `watch_status`; call it before the action whose first answer matters)."""
    page.evaluate(RECORD_STATUS, selector)


def watch_status(page, selector: str, until: str, timeout: float = 90.0) -> list[str]:
    """Every distinct text the status shows until it contains `until`, as the page recorded it."""
    record_status(page, selector)
    deadline = time.time() + timeout
    seen: list[str] = []
    while time.time() < deadline:
        seen = [text for text in page.evaluate("selector => window.statusSeen[selector]", selector) if text]
        done = [index for index, text in enumerate(seen) if until in text]
        if done:
            page.evaluate("""selector => {  // the next watch starts afresh
                window.statusSeen[selector].observer.disconnect();
                delete window.statusSeen[selector];
            }""", selector)
            return seen[: done[0] + 1]
        time.sleep(0.03)
    raise AssertionError(f"'{until}' never appeared; saw {seen}")


# the canvas element is wider than the 280×280 picture it shows: draw in its central part
SHAPES = [[(0.38, 0.25), (0.62, 0.75)], [(0.5, 0.25), (0.62, 0.5), (0.5, 0.75), (0.38, 0.5), (0.5, 0.25)],
          [(0.5, 0.2), (0.5, 0.8), (0.4, 0.8)]]


def add_three_classes(page) -> None:
    """Draw one example of each of three shapes as Class 1, 2, 3 in the Characters tab."""
    for label, shape in enumerate(SHAPES):
        page.locator("#class-choice input").click()
        page.get_by_role("option", name=f"Class {label + 1}").click()
        add_drawing(page, shape)


def add_drawing(page, shape, attempts: int = 3) -> None:
    """Draw in the example sketchpad and press Add until the support sheet shows it.

    After each Add the page wipes the sketchpad; on a loaded machine that can land after the
    next stroke, so a drawing that did not arrive is drawn again.
    """
    for _ in range(attempts):
        time.sleep(1.5)  # let the previous Add's wipe finish
        draw(page, "#example-sketch", shape)
        before = page.locator("#support-sheet img").get_attribute("src")
        page.locator("#add-example").click()
        try:
            page.wait_for_function("(before) => { const img = document.querySelector('#support-sheet img');"
                                   " return img && img.src !== before; }", arg=before, timeout=20_000)
            return
        except Exception:  # noqa: BLE001 - the stroke was wiped: try again
            continue
    raise AssertionError("the support sheet never showed the drawing")
