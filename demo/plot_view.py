"""PlotView: the app's plot component, a plotly figure that each new value updates in place.

Gradio's gr.Plot mounts a fresh plotly view for every value it is sent, so a streamed frame drew each
plot from scratch, twice (`Plotly.react` on the new element, then `Plots.resize`): most of the page's
time per frame (docs/RESULTS.md). PlotView keeps one element for as long as the page lives and hands
each figure to `Plotly.react`, plotly's own update of a drawn plot, which redraws what changed.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import plotly
import plotly.graph_objects as go
from gradio.components.plot import PlotData

# the plotly.js that the installed plotly writes its figures for; serving.LAUNCH lets Gradio serve this one file
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

# the page keeps `.plot-view` and its plot. A new value is drawn by Plotly.react in a task of its own once the page
# has shown the update that brought it, so a frame's plots draw one after another, with the page free to answer a
# click in between (a frame's plots drawn in one task took up to 230 ms); values that arrive meanwhile are
# skipped for the latest. A width the page gives the element later (a tab shown, the window resized) is drawn by
# plotly's resize. In presentation mode (the body's class, set by the page's checkbox) the figure is drawn with
# larger text, which plotly lays out for that size: text it measured before keeps its measured width in plotly's
# cache (keyed by the text and its inline style), so enlarging it with CSS alone overlapped the legends.
PRESENTATION_FONT, PRESENTATION_TITLE = 19, 22  # px, plot text and titles in presentation mode (CSS below too)
DRAW_JS = f"const PRESENTATION_FONT = {PRESENTATION_FONT}, PRESENTATION_TITLE = {PRESENTATION_TITLE};" + """
const view = element.querySelector('.plot-view');
let drawn = null, presenting = false, due = false;
const draw = () => {
    due = false;
    const json = props.value || null, large = document.body.classList.contains('presentation');
    if (json === drawn && large === presenting) return;
    drawn = json; presenting = large;
    if (json === null) { Plotly.purge(view); return; }
    const figure = JSON.parse(json), layout = {...figure.layout, autosize: true};
    if (large) {
        layout.font = {...layout.font, size: PRESENTATION_FONT};
        layout.title = {...layout.title, font: {...(layout.title || {}).font, size: PRESENTATION_TITLE}};
    }
    Plotly.react(view, figure.data || [], layout, {displaylogo: false, ...figure.config});
};
const later = () => { if (!due) { due = true; requestAnimationFrame(() => setTimeout(draw, 0)); } };
watch('value', later);
new MutationObserver(later).observe(document.body, {attributes: true, attributeFilter: ['class']});
draw();
let width = view.clientWidth;
new ResizeObserver(() => {
    if (view.clientWidth !== width && view.clientWidth > 0 && drawn !== null) Plotly.Plots.resize(view);
    width = view.clientWidth;
}).observe(view);
"""


# beside the app's CSS (demo.serving): the plot below its label, the block without the HTML block's padding, no
# icon (the HTML block's is for code), and an empty plot as tall as a drawn one of the usual height
# (plots.LAYOUT), so the page does not move when it is first drawn. In presentation mode, thicker lines, and
# the presentation sizes for text a figure sizes itself (annotations, subplot titles), where plotly measures text
# (#js-plotly-tester) too.
CSS = """
.plot-block .html-container {padding: 0 !important}
.plot-block [data-testid="block-label"] > span {display: none}
.plot-block .plot-view {padding-top: 30px}
.plot-block .plot-view:empty {height: 380px}
.presentation .js-plotly-plot .scatterlayer path.js-line {stroke-width: 4.5px !important}
.presentation .js-plotly-plot .scatterlayer .point {stroke-width: 2px !important}
""" + f"""
.presentation .js-plotly-plot .main-svg text, .presentation #js-plotly-tester text {{
    font-size: {PRESENTATION_FONT}px !important}}
.presentation .js-plotly-plot .main-svg .gtitle, .presentation #js-plotly-tester .gtitle {{
    font-size: {PRESENTATION_TITLE}px !important}}
"""


class PlotView(gr.HTML):
    """A plotly figure on the page; its value is the figure's JSON. The page loads plotly.js with the first
    PlotView it shows, so a first run does not wait for it. (Gradio writes a stub of this class,
    plot_view.pyi, beside this file the first time it is imported.)

    A handler may return a PlotData of type "plotly" (plots.fast_figure), a go.Figure, the JSON itself, or None
    for no plot.
    """

    def __init__(self, value=None, *, label: str | None = None, elem_id: str | None = None, **options):
        super().__init__(value, label=label, elem_id=elem_id, elem_classes=["plot-block"],
                         show_label=label is not None, container=True,
                         apply_default_css=False, html_template='<div class="plot-view"></div>', js_on_load=DRAW_JS,
                         head=f'<script src="gradio_api/file={PLOTLY_JS.as_posix()}"></script>', **options)

    def postprocess(self, value) -> str | None:
        """The figure's JSON."""
        if isinstance(value, PlotData):
            if value.type != "plotly":
                raise ValueError(f"PlotView draws plotly figures, not {value.type}")
            return value.plot
        if isinstance(value, go.Figure):
            return value.to_json()
        return value

    def api_info(self) -> dict:
        return {"type": "string", "description": "a plotly figure's JSON"}
