"""The README's screenshots, taken from the real app with the shipped checkpoints in Debian's Chromium.

    SCREENSHOTS=docs python -m pytest tests/test_screenshots.py      (or: make screenshots)

Skipped unless SCREENSHOTS names the folder to write into; the browser tests check the same page.
"""
from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

from demo import build_app
from tests.browser import FLAGS, add_three_classes, draw, watch_status
from tests.demo_fixtures import served

OUT = os.environ.get("SCREENSHOTS")
pytestmark = pytest.mark.skipif(not OUT or shutil.which("chromium") is None,
                                reason="set SCREENSHOTS=<folder> (and install Chromium) to take the screenshots")


def save(page, path: Path) -> None:
    """What a 1280×720 projector shows from the top of the page, as a PNG under 300 KB (palette-quantised)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    image = Image.open(path).convert("RGB")
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def test_take_the_readme_screenshots():
    from playwright.sync_api import sync_playwright

    out = Path(OUT)
    out.mkdir(parents=True, exist_ok=True)
    with served(build_app()) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url)
        page.wait_for_selector("#sinusoid-adapt")
        page.get_by_label("Draw a curve").check()
        wave = [(0.28 + 0.44 * i / 60, 0.5 - 0.17 * math.sin(5.0 * i / 60 + 0.5)) for i in range(61)]
        draw(page, "#curve-canvas", wave)
        page.locator("#sinusoid-adapt").click()
        watch_status(page, "#sinusoid-status", "Done", timeout=180)
        time.sleep(1.5)  # the last figures finish drawing
        save(page, out / "sinusoid.png")
        page.get_by_role("tab", name="Characters").click()
        add_three_classes(page)
        draw(page, "#query-sketch", [(0.5, 0.27), (0.6, 0.5), (0.5, 0.73), (0.4, 0.5), (0.5, 0.27)])
        page.locator("#characters-adapt").click()
        watch_status(page, "#characters-status", "Done:", timeout=180)
        time.sleep(1.5)
        save(page, out / "characters.png")
        page.get_by_role("tab", name="Full vs first-order").click()
        page.locator("#gradients-compare").click()
        watch_status(page, "#gradients-status", "Done on", timeout=300)
        time.sleep(1.5)
        save(page, out / "gradients.png")
        page.get_by_role("tab", name="Meta-train").click()
        page.locator("#metatrain-train").click()
        watch_status(page, "#metatrain-status", "Done", timeout=300)
        time.sleep(1.5)
        save(page, out / "metatrain.png")
        browser.close()
    for name in ("sinusoid.png", "characters.png", "gradients.png", "metatrain.png"):
        assert (out / name).stat().st_size < 300_000
