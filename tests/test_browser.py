"""Real-browser tests: Debian Chromium driven by Playwright draws, clicks Adapt and sees steps stream in."""
from __future__ import annotations

import math
import os
import re
import shutil
import time

import pytest
import torch

from demo import build_app
from demo.store import CheckpointStore
from tests.browser import FLAGS, SHAPES, add_three_classes, draw, open_page, watch_status
from tests.demo_fixtures import make_assets, served
from tests.helpers import is_still

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser tests: install Chromium (apt-get install chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
@pytest.fixture
def page(app_url):
    with open_page(app_url, 1400, 1000) as opened:
        yield opened


def test_sinusoid_tab_draw_a_curve_and_watch_the_steps(page, tmp_path):
    page.get_by_label("Draw a curve").check()
    # the canvas element is wider than the picture it shows: stay in its middle half
    wave = [(0.28 + 0.44 * i / 60, 0.5 - 0.15 * math.sin(6.0 * i / 60)) for i in range(61)]
    draw(page, "#curve-canvas", wave)
    page.locator("#sinusoid-adapt").click()
    seen = watch_status(page, "#sinusoid-status", "Done")
    steps = {line.split("Step ")[1].split(" ")[0] for line in seen if "Step " in line}
    assert len(steps) >= 3, seen
    assert "sinusoid" in seen[-1]  # the distribution note about the drawn curve
    page.screenshot(path=str(tmp_path / "sinusoid.png"), full_page=True)


def test_characters_tab_draw_examples_and_a_query(page, tmp_path):
    page.get_by_role("tab", name="Characters").click()
    add_three_classes(page)
    draw(page, "#query-sketch", SHAPES[1])
    # a slower stream, so that each step stays on screen while three plots redraw
    delay = page.locator("#characters-delay input[type='number']")
    delay.fill("1")
    delay.press("Enter")
    page.locator("#characters-adapt").click()
    seen = watch_status(page, "#characters-status", "Step 3 of 3")
    steps = {line.split("Step ")[1].split(" ")[0] for line in seen if "Step " in line}
    assert len(steps) >= 3, seen
    page.screenshot(path=str(tmp_path / "characters.png"), full_page=True)


def test_full_vs_first_order_shows_the_cosine_bars_and_the_cost_plot(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Full vs first-order").click()
    set_slider(page, "#gradients-sweep", 3)
    page.locator("#gradients-compare").click()
    expect(page.locator("#gradients-status")).to_contain_text("Done on CPU", timeout=120_000)
    expect(page.locator("#gradients-cosines .js-plotly-plot g.trace.bars")).to_have_count(4)  # every method but MAML
    expect(page.locator("#gradients-cost .js-plotly-plot g.trace.scatter")).to_have_count(10)  # 5 methods × time, memory
    expect(page.locator("#gradients-table table")).to_contain_text("iMAML")


def test_meta_train_streams_the_loss_curve(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Meta-train").click()
    set_slider(page, "#metatrain-iterations", 150)
    set_slider(page, "#metatrain-meta_batch", 5)
    page.locator("#metatrain-train").click()
    seen = watch_status(page, "#metatrain-status", "Done", timeout=120)
    iterations = {line.split("Iteration ")[1].split(" ")[0] for line in seen if "Iteration " in line}
    assert len(iterations) >= 3, seen  # the curve was redrawn at least three times as θ was learned
    expect(page.locator("#metatrain-losses .js-plotly-plot g.trace.scatter")).to_have_count(4)  # 2 algorithms × 2
    page.locator("#metatrain-use").click()
    expect(page.locator("#metatrain-status")).to_contain_text("now offered")


def set_slider(page, container: str, value) -> None:
    box = page.locator(f"{container} input[type='number']")
    box.fill(str(value))
    box.press("Enter")


def test_paused_runs_in_closed_tabs_free_their_slots(tmp_path):
    """Fill every open-run slot (2 here) with a paused run, close those tabs: a waiting request then runs at once."""
    from gradio_client import Client
    from playwright.sync_api import expect, sync_playwright

    from tests.demo_fixtures import sinusoid_request as sinusoid_args

    store = CheckpointStore(make_assets(tmp_path / "assets"), torch.device("cpu"))
    with served(build_app(store), runs=2) as app_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pages = []
        for _ in range(2):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(app_url)
            set_slider(page, "#sinusoid-steps", 100)
            set_slider(page, "#sinusoid-delay", 1)
            page.locator("#sinusoid-adapt").click()
            # streaming (a page busy with its first plots can show step 2 first)
            expect(page.locator("#sinusoid-status")).to_contain_text(re.compile(r"Step [1-9]\d* of 100"), timeout=60_000)
            page.locator("#sinusoid-pause").click()
            expect(page.locator("#sinusoid-pause")).to_have_text("Resume")
            pages.append(page)
        job = Client(app_url, verbose=False).submit(*sinusoid_args(steps=0), api_name="/adapt_sinusoid")
        time.sleep(4)
        assert not job.done(), "with both open-run slots paused, a third run should wait"
        closed = time.time()
        for page in pages:
            page.close()
        assert "Done: 0 step(s)" in job.result(timeout=60)[3]
        waited = time.time() - closed
        browser.close()
    assert waited < 15, f"the slots of closed tabs took {waited:.1f} s to free"


def test_a_paused_run_holds_no_compute_slot(tmp_path):
    """While a run is paused its Waits sleep outside the compute semaphore: every slot stays free."""
    from demo.session import Playback
    from demo.tabs import sinusoid
    from demo.serving import COMPUTE_SLOTS, PROCESS

    store = CheckpointStore(make_assets(tmp_path / "assets"), torch.device("cpu"))
    controls = Playback()
    run = sinusoid.adapt_sinusoid(store, "sine", 2.0, 1.0, 5, None, [], "maml", 0.01, 20, 0.0, 0, controls)
    next(run)  # step 0
    controls.paused = True
    shown_again = next(run)  # as the pause begins, the step shown comes again, interactive
    assert "Step 0 of 20" in shown_again[3] and not is_still(shown_again[0])
    ticks = [next(run) for _ in range(3)]  # then no-op updates while paused
    assert all(all(isinstance(output, dict) and output.get("__type__") == "update" for output in tick)
               for tick in ticks)
    free = [PROCESS["compute"].acquire(blocking=False) for _ in range(COMPUTE_SLOTS)]
    assert all(free), "a paused run should leave every compute slot free"
    for _ in free:
        PROCESS["compute"].release()
    controls.stopped = True
    assert "Stopped." in list(run)[-1][3]
