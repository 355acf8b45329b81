"""Real-browser tests: Debian Chromium driven by Playwright draws, clicks Adapt and sees steps stream in."""
from __future__ import annotations

import math
import os
import shutil
import time

import pytest
import torch

from demo import build_app
from demo.store import CheckpointStore
from tests.demo_fixtures import make_assets, served

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser tests: install Chromium (apt-get install chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    store = CheckpointStore(make_assets(tmp_path_factory.mktemp("assets")), torch.device("cpu"))
    with served(build_app(store)) as url:
        yield url


@pytest.fixture
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.wait_for_selector("text=MAML Playground", timeout=30_000)
        yield page
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


def watch_status(page, selector: str, until: str, timeout: float = 90.0) -> list[str]:
    """Every distinct text the status shows until it contains `until`."""
    seen: list[str] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = page.locator(selector).inner_text()
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if until in text:
            return seen
        time.sleep(0.03)
    raise AssertionError(f"'{until}' never appeared; saw {seen}")


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
            expect(page.locator("#sinusoid-status")).to_contain_text("Step 1 of 100", timeout=60_000)
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
    from demo import sinusoid
    from demo.playback import Playback
    from demo.serving import COMPUTE_SLOTS, PROCESS

    store = CheckpointStore(make_assets(tmp_path / "assets"), torch.device("cpu"))
    controls = Playback()
    run = sinusoid.adapt_sinusoid(store, "Sine wave", 2.0, 1.0, 5, None, [], "maml", 0.01, 20, 0.0, 0, controls)
    next(run)  # step 0
    controls.paused = True
    ticks = [next(run) for _ in range(3)]  # no-op updates while paused
    assert all(all(isinstance(output, dict) and output.get("__type__") == "update" for output in tick)
               for tick in ticks)
    free = [PROCESS["compute"].acquire(blocking=False) for _ in range(COMPUTE_SLOTS)]
    assert all(free), "a paused run should leave every compute slot free"
    for _ in free:
        PROCESS["compute"].release()
    controls.stopped = True
    assert "Stopped." in list(run)[-1][3]
