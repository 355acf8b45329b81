"""Screenshots of both tabs for the README, taken from the real app with the shipped checkpoints.

    python -m bench.screenshots [--out docs]
Needs Debian's Chromium and Playwright (as the browser tests do).
"""
from __future__ import annotations

import argparse
import math
import shutil
import socket
import sys
import time
from pathlib import Path

from PIL import Image

from demo import build_app, serve
from tests.test_browser import FLAGS, add_three_classes, draw, watch_status


def save(page, path: Path, clip_to: str | None = None) -> None:
    """A PNG under 300 KB: the page (or one element), downscaled and palette-quantised."""
    target = page.locator(clip_to) if clip_to else page
    target.screenshot(path=str(path), **({} if clip_to else {"full_page": True}))
    image = Image.open(path).convert("RGB")
    image.thumbnail((1100, 1500))
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.screenshots")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = build_app()
    serve(app, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(app.local_url)
            page.wait_for_selector("text=MAML Playground")
            page.get_by_label("Draw a curve").check()
            wave = [(0.28 + 0.44 * i / 60, 0.5 - 0.17 * math.sin(5.0 * i / 60 + 0.5)) for i in range(61)]
            draw(page, "#curve-canvas", wave)
            page.locator("#sinusoid-adapt").click()
            watch_status(page, "#sinusoid-status", "Done", timeout=180)
            time.sleep(1.5)
            save(page, out / "sinusoid.png")
            page.get_by_role("tab", name="Characters").click()
            add_three_classes(page)
            draw(page, "#query-sketch", [(0.5, 0.27), (0.6, 0.5), (0.5, 0.73), (0.4, 0.5), (0.5, 0.27)])
            page.locator("#characters-adapt").click()
            watch_status(page, "#characters-status", "Step 3 of 3", timeout=180)
            time.sleep(1.5)
            save(page, out / "characters.png")
            browser.close()
    finally:
        app.close()
    for name in ("sinusoid.png", "characters.png"):
        print(out / name, (out / name).stat().st_size // 1024, "KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
