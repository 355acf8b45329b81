"""The page as a teacher projects it, in Debian's Chromium at 1280×720: every tab's controls and main plot in
view, the presentation option, replay from the keyboard, a cleared curve that keeps its grid, and Pause and
Step on the Characters tab."""
from __future__ import annotations

import os
import shutil

import pytest
from PIL import Image

from tests.browser import SHAPES, add_three_classes, draw, open_page, record_status, watch_status

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser tests: install Chromium (apt-get install chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")

VIEW = {"width": 1280, "height": 720}
# per tab: what a teacher uses, and the main plot last
IN_VIEW = {
    "Sinusoid": ["#sinusoid-source", "#sinusoid-algorithm", "#sinusoid-inner_lr", "#sinusoid-steps", "#sinusoid-adapt",
                 "#sinusoid-pause", "#sinusoid-step", "#sinusoid-stop", "#sinusoid-curves"],
    "Characters": ["#example-sketch", "#query-sketch", "#characters-algorithm", "#characters-inner_lr",
                   "#characters-steps", "#characters-adapt", "#characters-pause", "#characters-step",
                   "#characters-stop", "#characters-probabilities"],
    "Full vs first-order": ["#gradients-batch", "#gradients-theta", "#gradients-steps", "#gradients-inner_lr",
                            "#gradients-compare", "#gradients-cosines"],
    "Meta-train": ["#metatrain-first", "#metatrain-second", "#metatrain-inner_lr", "#metatrain-steps",
                   "#metatrain-train", "#metatrain-stop", "#metatrain-use", "#metatrain-losses"],
}


@pytest.fixture
def page(app_url):
    with open_page(app_url, VIEW["width"], VIEW["height"]) as opened:
        yield opened


def set_number(page, container: str, value) -> None:
    box = page.locator(f"{container} input[type='number']")
    box.fill(str(value))
    box.press("Enter")


def test_every_tab_shows_its_controls_and_main_plot_at_1280x720(page, tmp_path):
    from playwright.sync_api import expect

    # what the tabs say of the device comes once the page has loaded (the app is built before torch loads)
    expect(page.locator("#sinusoid-device")).to_have_text("CPU")
    for tab, selectors in IN_VIEW.items():
        page.get_by_role("tab", name=tab).click()
        expect(page.locator(selectors[-1])).to_be_visible()
        for selector in selectors:
            box = page.locator(selector).first.bounding_box()
            assert box is not None, (tab, selector)
            assert 0 <= box["y"] and box["y"] + box["height"] <= VIEW["height"], (tab, selector, box)
            assert 0 <= box["x"] and box["x"] + box["width"] <= VIEW["width"], (tab, selector, box)
        if tab == "Characters":
            expect(page.locator("#characters-device")).to_have_text("CPU")
        if tab == "Meta-train":  # on the CPU: sinusoid only, and the line says why
            expect(page.locator("#metatrain-caps")).to_contain_text("needs a CUDA device (this server: CPU)")
            expect(page.locator("#metatrain-task")).to_be_hidden()
        page.screenshot(path=str(tmp_path / f"{tab}.png"))
        assert Image.open(tmp_path / f"{tab}.png").size == (VIEW["width"], VIEW["height"])


def test_drawing_a_curve_keeps_the_sinusoid_controls_in_view_at_1280x720(page):
    from playwright.sync_api import expect

    page.locator("#sinusoid-source label", has_text="Draw a curve").click()
    expect(page.locator("#curve-canvas")).to_be_visible()
    for selector in ["#curve-canvas", "#curve-clear", *IN_VIEW["Sinusoid"]]:
        box = page.locator(selector).first.bounding_box()
        assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= VIEW["height"], (selector, box)


def test_the_presentation_option_enlarges_plot_text_and_lines(page):
    from playwright.sync_api import expect

    set_number(page, "#sinusoid-steps", 2)
    page.locator("#sinusoid-adapt").click()
    expect(page.locator("#sinusoid-status")).to_contain_text("Done: 2 step(s)", timeout=60_000)
    tick = page.locator("#sinusoid-curves .xtick text").first
    line = page.locator("#sinusoid-curves .scatterlayer path.js-line").first

    def sizes() -> tuple[float, float]:
        return (float(tick.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")),
                float(line.evaluate("e => parseFloat(getComputedStyle(e).strokeWidth)")))

    text_before, line_before = sizes()
    page.locator("#presentation input").check()
    page.wait_for_function("document.body.classList.contains('presentation')")
    text_after, line_after = sizes()
    assert text_after >= 1.4 * text_before and line_after > line_before, (text_before, text_after, line_before,
                                                                          line_after)
    # the legend, measured at 13 px before, is laid out again for the larger text: its entries do not overlap
    page.wait_for_function(LEGEND_APART, arg="#sinusoid-curves", timeout=10_000)


LEGEND_APART = """(selector) => {  // each entry's text ends before the next entry (its symbol) begins
    const entries = [...document.querySelectorAll(selector + ' .legend g.traces')]
        .map(entry => ({entry: entry.getBoundingClientRect(),
                        text: entry.querySelector('.legendtext').getBoundingClientRect()}))
        .sort((a, b) => a.entry.left - b.entry.left);
    return entries.length > 1 && entries.every((box, i) => i === 0 || entries[i - 1].text.right <= box.entry.left);
}"""


PLOTLY_STATE = """(selector) => {
    const plot = document.querySelector(selector + ' .js-plotly-plot'), layout = plot._fullLayout;
    return {widened: ['l', 'r', 't', 'b'].filter(side => Math.round(layout._size[side]) > layout.margin[side]),
            still: Boolean(plot._context.staticPlot)};
}"""


def test_streamed_figures_are_still_while_a_run_plays_and_plotly_lays_them_out_once(page):
    """While a run plays, its figures are still pictures (plotly's staticPlot), interactive once it is over; and in
    both modes plotly's automargin finds no margin of theirs to widen (where it widens one, it lays the figure out
    and draws it a second time, for every streamed frame)."""
    import re

    from playwright.sync_api import expect

    set_number(page, "#sinusoid-steps", 40)
    set_number(page, "#sinusoid-delay", 0.3)
    status, title = page.locator("#sinusoid-status"), page.locator("#sinusoid-curves .gtitle")
    for presentation in (False, True):
        if presentation:
            page.locator("#presentation input").check()
        page.locator("#sinusoid-adapt").click()
        expect(status).to_contain_text("of 40", timeout=60_000)
        expect(title).to_contain_text(re.compile(r"step [1-9]"), timeout=30_000)
        playing = {plot: page.evaluate(PLOTLY_STATE, plot) for plot in ("#sinusoid-curves", "#sinusoid-losses")}
        page.locator("#sinusoid-stop").click()
        expect(status).to_contain_text("Done", timeout=30_000)
        expect(page.locator("#sinusoid-path .js-plotly-plot")).to_be_visible()
        done = {plot: page.evaluate(PLOTLY_STATE, plot) for plot in ("#sinusoid-curves", "#sinusoid-losses")}
        assert all(state["still"] for state in playing.values()), (presentation, playing)
        assert not any(state["still"] for state in done.values()), (presentation, done)
        assert not any(state["widened"] for state in [*playing.values(), *done.values()]), (presentation, playing, done)


COUNT_DRAWS = """() => {
    window.draws = new Map();  // each plot element → how often plotly drew it
    for (const name of ['react', 'newPlot']) {
        const draw = Plotly[name];
        Plotly[name] = function (element, ...rest) {
            window.draws.set(element, (window.draws.get(element) || 0) + 1);
            return draw.call(this, element, ...rest);
        };
    }
    window.firstCurves = document.querySelector('#sinusoid-curves .js-plotly-plot');
}"""


def test_each_plot_stays_one_element_that_plotly_draws_once_per_streamed_value(page):
    """A streamed run updates each plot in place: the element drawn before the run is the one drawn after it, and
    plotly draws it at most once per value the server sends (Gradio's own plot component drew a new element per
    value, twice)."""
    from playwright.sync_api import expect

    page.wait_for_function("window.Plotly && document.querySelector('#sinusoid-curves .js-plotly-plot')")
    page.evaluate(COUNT_DRAWS)
    set_number(page, "#sinusoid-steps", 12)
    set_number(page, "#sinusoid-delay", 0.05)
    page.locator("#sinusoid-adapt").click()
    expect(page.locator("#sinusoid-status")).to_contain_text("Done: 12 step(s)", timeout=60_000)
    expect(page.locator("#sinusoid-path .js-plotly-plot")).to_be_visible()
    curves, losses, path = page.evaluate("""() => ['curves', 'losses', 'path'].map(name => window.draws.get(
        document.querySelector('#sinusoid-' + name + ' .js-plotly-plot')) || 0)""")
    assert page.evaluate("document.querySelector('#sinusoid-curves .js-plotly-plot') === window.firstCurves")
    assert 1 <= curves <= 13 and 1 <= losses <= 13 and path == 1, (curves, losses, path)  # 13 frames: k = 0..12
    assert page.evaluate("window.draws.size") == 3  # no other element drawn


def test_replay_redraws_from_a_typed_step_and_the_arrow_keys(page):
    from playwright.sync_api import expect

    set_number(page, "#sinusoid-steps", 4)
    page.locator("#sinusoid-adapt").click()
    expect(page.locator("#sinusoid-status")).to_contain_text("Done: 4 step(s)", timeout=60_000)
    title = page.locator("#sinusoid-curves .gtitle")
    expect(title).to_contain_text("step 4")
    set_number(page, "#sinusoid-replay", 2)  # a typed value and Enter
    expect(title).to_contain_text("step 2", timeout=10_000)
    expect(page.locator("#sinusoid-replay input[type='range']")).to_have_value("2")  # the slider shows it too
    page.locator("#sinusoid-replay input[type='range']").focus()
    page.keyboard.press("ArrowLeft")  # the arrow keys
    expect(title).to_contain_text("step 1", timeout=10_000)


def dark_and_grid_pixels(page, selector: str) -> tuple[int, int]:
    """Pixels of the drawing canvas that are stroke-dark, and that are the axes grid's grey."""
    path = "/tmp/_canvas.png"
    page.locator(selector).screenshot(path=path)
    pixels = list(Image.open(path).convert("RGB").getdata())
    dark = sum(1 for r, g, b in pixels if r < 60 and g < 60 and b < 80)
    grid = sum(1 for r, g, b in pixels if 180 < r < 240 and abs(r - g) < 12 and abs(g - b) < 12)
    return dark, grid


def test_clearing_the_drawn_curve_keeps_the_grid(page):
    from playwright.sync_api import expect

    page.get_by_label("Draw a curve").check()
    canvas = "#curve-canvas canvas"
    expect(page.locator(canvas).first).to_be_visible()
    page.wait_for_timeout(800)
    _, grid_before = dark_and_grid_pixels(page, "#curve-canvas")
    draw(page, "#curve-canvas", [(0.3 + 0.4 * i / 20, 0.35 + 0.3 * (i % 2)) for i in range(21)])
    dark_drawn, _ = dark_and_grid_pixels(page, "#curve-canvas")
    page.locator("#curve-clear").click()
    page.wait_for_timeout(1500)
    dark_cleared, grid_cleared = dark_and_grid_pixels(page, "#curve-canvas")
    assert grid_before > 500 and dark_drawn > dark_cleared + 200  # a grid to begin with; the stroke went
    assert grid_cleared > 0.8 * grid_before  # and the grid stayed
    wave = [(0.28 + 0.44 * i / 40, 0.5 - 0.12 * ((i % 10) / 5 - 1)) for i in range(41)]
    draw(page, "#curve-canvas", wave)  # the next curve is drawn on the grid, and only it is read
    page.locator("#sinusoid-adapt").click()
    expect(page.locator("#sinusoid-status")).to_contain_text("Done", timeout=60_000)


def test_characters_pause_and_step(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Characters").click()
    add_three_classes(page)
    draw(page, "#query-sketch", SHAPES[1])
    set_number(page, "#characters-steps", 6)
    set_number(page, "#characters-delay", 1)
    page.locator("#characters-adapt").click()
    status = page.locator("#characters-status")
    expect(status).to_contain_text("Step 1 of 6", timeout=60_000)
    page.locator("#characters-pause").click()
    expect(page.locator("#characters-pause")).to_have_text("Resume")
    paused_at = int(status.inner_text().split("Step ")[1].split(" ")[0])
    page.wait_for_timeout(2500)  # more than two delays: a paused run stays where it is
    assert f"Step {paused_at} of 6" in status.inner_text()
    page.locator("#characters-step").click()  # exactly one more step
    expect(status).to_contain_text(f"Step {paused_at + 1} of 6", timeout=10_000)
    page.wait_for_timeout(2500)
    assert f"Step {paused_at + 1} of 6" in status.inner_text()
    record_status(page, "#characters-status")  # Stop's own answer shows only until the run's follows
    page.locator("#characters-stop").click()
    seen = watch_status(page, "#characters-status", "after step", timeout=20)
    # Stop's own answer ("Stopped at step k.") shows unless the page renders it in one go with the run's last line
    assert "Stopped. The query looks most like" in seen[-1] and f"after step {paused_at + 1}" in seen[-1]
    expect(page.locator("#characters-pause")).to_have_text("Pause")  # a run over is not paused
