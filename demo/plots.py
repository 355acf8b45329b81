"""Plotly figures from core's traces (given as the dicts of AdaptationTrace.to_dict()); no torch here."""
from __future__ import annotations

import math
import textwrap
from typing import Sequence

import orjson
import plotly.graph_objects as go
import plotly.io as pio
from gradio.components.plot import PlotData
from plotly.subplots import make_subplots

from demo.messages import text

THETA = "#64748b"  # slate: θ, before adaptation
PHI = "#2563eb"  # blue: φ_k, the current step
TRUE = "#16a34a"  # green: the true or drawn curve
SUPPORT = "#dc2626"  # red: support points
QUERY = "#f59e0b"  # amber: query loss
GHOSTS = 8  # earlier steps drawn as fading ghosts
# a loss curve marks each step in runs of up to 30 steps; past that, plotly styling each marker on every frame was
# the largest part of drawing a long run's loss plot, and the markers touch
MARKED_STEPS = 30
# a top margin for the title above a one-row legend; the others wide enough for the axes' tick labels and titles,
# the presentation option's larger text too: plotly's automargin (on in plotly_white) then finds nothing to widen;
# where it widens one, it lays the figure out and draws it a second time, which took a third of the page's time
# per streamed frame (docs/RESULTS.md)
LAYOUT = dict(template="plotly_white", margin=dict(l=84, r=36, t=70, b=72), height=380,
              legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), font=dict(size=13))


# resolved once, since unvalidated figures carry it as is: plotly_white's layout and the defaults of the traces drawn here
# Tick labels are drawn where they fall: by default plotly measures every tick label of every axis on each draw to
# hide those past the plot's edge (its ticklabeloverflow), a third of a streamed frame's drawing; the margins keep
# them inside.
_WHITE = pio.templates["plotly_white"].to_plotly_json()
TEMPLATE = {"layout": {**_WHITE["layout"], **{axis: {**_WHITE["layout"][axis], "ticklabeloverflow": "allow"}
                                              for axis in ("xaxis", "yaxis")}},
            "data": {kind: value for kind, value in _WHITE["data"].items() if kind in ("scatter", "bar", "contour")}}


def log_axis(values: list[float]) -> dict:
    """A log axis in plain decades (0.01, 0.1, 1, 10, 10⁴) when `values` span one or more; plotly's own ticks
    within a narrower span, where decades would leave the axis without a label."""
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    wide = bool(positive) and max(positive) >= 10 * min(positive)
    return dict(type="log", exponentformat="power", minexponent=3, **({"dtick": 1} if wide else {}))


def fast_figure(data: list[dict], layout: dict) -> PlotData:
    """A plotly figure from plain trace and layout dicts, as the JSON that gr.Plot sends to the page (it takes its
    PlotData as it is), for the figures streamed every step.

    No plotly objects are built: their validation took 55–66 ms a frame, their JSON 0.7–1.3 ms (orjson: 0.08 ms),
    and each figure holds reference cycles that only the garbage collector frees: two thirds of the server's
    cyclic garbage under load, whose collections held the event loop (docs/RESULTS.md). The dicts must use
    plotly's own names (title as {"text": …}); `tests.helpers.figure` reads the JSON back with plotly's
    validation.
    """
    figure = {"data": data, "layout": {**LAYOUT, "template": TEMPLATE, **layout}}
    return PlotData(type="plotly", plot=orjson.dumps(figure, option=orjson.OPT_SERIALIZE_NUMPY).decode())


STILL = '{"config":{"staticPlot":true},'  # what `still` puts before a fast figure's '"data":…}'


def still(figure: PlotData) -> PlotData:
    """A fast figure drawn as a still picture (plotly's staticPlot: no hover, zoom or mode bar), which the page
    draws sooner: the frames streamed while a run plays. A run's last frame, a paused run's and replay's are not."""
    if figure.type != "plotly" or not figure.plot.startswith('{"data":'):  # as fast_figure and plotly write them
        raise ValueError("still() takes a plotly figure's JSON that starts with its data")
    return PlotData(type=figure.type, plot=STILL + figure.plot[1:])


def stills(outputs: Sequence) -> tuple:
    """A frame's outputs with each plotly figure in it made `still`."""
    return tuple(still(output) if isinstance(output, PlotData) else output for output in outputs)


def rounded(values: list[float], digits: int = 4) -> list[float | None]:
    """Values to `digits` significant digits (a smaller payload; the screen shows no more), non-finite as gaps."""
    return [float(f"{v:.{digits}g}") if v is not None and math.isfinite(v) else None for v in values]


def empty_figure(title: str, height: int = LAYOUT["height"]) -> PlotData:
    """A title and no axes or data: what a plot says before its first run. Lines of at most 32 characters, so the
    title fits the narrowest plot in presentation mode."""
    return fast_figure([], dict(title=dict(text="<br>".join(textwrap.wrap(title, 32))), height=height,
                                xaxis=dict(visible=False),
                                yaxis=dict(visible=False)))


def sinusoid_figure(trace: dict, step: int, support: tuple[list[float], list[float]],
                    curve: tuple[list[float], list[float]] | None, title: str) -> PlotData:
    """f(x; θ) dashed, f(x; φ_k) bold, earlier φ as fading ghosts, the support points and true curve.

    The y-axis is fixed by the support set, the true curve and θ, so a diverging φ_k leaves the view."""
    grid, records = trace["grid"], trace["records"][: step + 1]
    data = []
    if curve is not None:
        data.append(dict(type="scatter", x=rounded(curve[0]), y=rounded(curve[1]), mode="lines",
                         name=text("figure.true_curve"), line=dict(color=TRUE, width=2)))
    data.append(dict(type="scatter", x=rounded(grid), y=rounded(records[0]["predictions"]), mode="lines",
                     name=text("figure.theta_curve"), line=dict(color=THETA, width=2, dash="dash")))
    earlier = records[1:-1][-GHOSTS:]
    if earlier:  # one trace, the curves apart by gaps: a frame redraws one line, not GHOSTS
        xs, ys = rounded(grid), []
        for record in earlier:
            ys += [*rounded(record["predictions"], 3), None]
        data.append(dict(type="scatter", x=(xs + [None]) * len(earlier), y=ys, mode="lines", showlegend=False,
                         hoverinfo="skip", line=dict(color=PHI, width=1), opacity=0.3))
    if step > 0:
        data.append(dict(type="scatter", x=rounded(grid), y=rounded(records[-1]["predictions"]), mode="lines",
                         name=text("figure.phi_curve", step=step), line=dict(color=PHI, width=4)))
    data.append(dict(type="scatter", x=support[0], y=support[1], mode="markers", name=text("figure.support"),
                     marker=dict(color=SUPPORT, size=10, line=dict(color="white", width=1.5))))
    seen = [*support[1], *(curve[1] if curve is not None else []), *records[0]["predictions"]]
    seen = [v for v in seen if math.isfinite(v)]
    low, high = min(seen, default=-1.0), max(seen, default=1.0)
    pad = 0.15 * max(high - low, 1.0)
    return fast_figure(data, dict(title=dict(text=title), xaxis=dict(title=dict(text="x"), range=[min(grid), max(grid)]),
                                  yaxis=dict(title=dict(text="y"), range=[low - pad, high + pad]),
                                  uirevision="curves"))


def loss_figure(trace: dict, step: int) -> PlotData:
    """Support (and query) loss against the inner step, up to `step`; log scale in plain decades. Each step is
    marked in runs of up to 30 steps."""
    records = trace["records"][: step + 1]
    steps, last = [r["step"] for r in records], trace["records"][-1]["step"]
    mode = "lines+markers" if last <= MARKED_STEPS else "lines"
    data = [dict(type="scatter", x=steps, y=rounded([r["support_loss"] for r in records]), mode=mode,
                 name=text("figure.support_loss"), line=dict(color=SUPPORT))]
    if all(r["query_loss"] is not None for r in records):
        data.append(dict(type="scatter", x=steps, y=rounded([r["query_loss"] for r in records]), mode=mode,
                         name=text("figure.query_loss"), line=dict(color=QUERY)))
    shown = [value for trace_data in data for value in trace_data["y"]]
    return fast_figure(data, dict(title=dict(text=text("figure.loss_title")),
                                  xaxis=dict(title=dict(text=text("figure.inner_step")), range=[-0.5, max(last, 1) + 0.5]),
                                  yaxis=dict(title=dict(text=text("figure.loss")), **log_axis(shown))))


def landscape_figure(landscape: dict, step: int) -> PlotData:
    """The path θ → φ_1 → … → φ_k over the support loss on the path's principal plane."""
    return path_figure(landscape, step + 1, ("θ", "φ" + subscript(step)), text("figure.path_title"),
                       text("figure.support_loss"))


def subscript(number: int) -> str:
    """12 → ₁₂."""
    return str(number).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def path_figure(landscape: dict, count: int, ends: tuple[str, str], title: str, objective: str) -> PlotData:
    """The first `count` points of a landscape's path over its objective (log colour scale), both ends marked
    and named, the view fitted to the path; the last move is an arrow."""
    path = landscape["path"][:count]
    finite = [value for row in landscape["loss"] for value in row if math.isfinite(value) and value > 0]
    floor = min(finite, default=1.0)
    z = [rounded([math.log10(max(value, floor)) if math.isfinite(value) else math.nan for value in row])
         for row in landscape["loss"]]
    hover = objective + " %{customdata:.3g}<extra></extra>"
    xs, ys = [p[0] for p in path], [p[1] for p in path]
    data = [dict(type="contour", x=rounded(landscape["a"]), y=rounded(landscape["b"]), z=z, colorscale="Blues",
                 reversescale=True, ncontours=18, contours=dict(coloring="heatmap", showlabels=False), name=objective,
                 colorbar=dict(title=dict(text=text("figure.log_loss")), thickness=12, ticklabeloverflow="allow"),
                 customdata=[rounded(row, 3) for row in landscape["loss"]], hovertemplate=hover),
            dict(type="scatter", x=xs, y=ys, mode="lines+markers", name=ends[1], line=dict(color="#111827", width=2),
                 marker=dict(size=5, color="#111827"), customdata=rounded(landscape["path_loss"][:count], 3),
                 hovertemplate=hover)]
    annotations = []
    for (x, y), name, color, symbol in ((path[0], ends[0], THETA, "diamond"), (path[-1], ends[1], "#f97316", "circle")):
        data.append(dict(type="scatter", x=[x], y=[y], mode="markers", name=name, hoverinfo="name",
                         marker=dict(size=13, color=color, symbol=symbol, line=dict(color="white", width=2))))
        annotations.append(dict(x=x, y=y, text=name, showarrow=False, yshift=16, font=dict(size=14, color="#111827"),
                                bgcolor="rgba(255,255,255,0.85)", borderpad=2))
    if len(path) > 1:
        annotations.append(dict(x=xs[-1], y=ys[-1], ax=xs[-2], ay=ys[-2], xref="x", yref="y", axref="x", ayref="y",
                                showarrow=True, arrowhead=3, arrowwidth=2, arrowcolor="#f97316", text=""))
    explained = landscape["explained"]
    return fast_figure(data, dict(title=dict(text=title), showlegend=False, annotations=annotations,
                                  margin={**LAYOUT["margin"], "l": 96, "r": 124},  # PC2's ticks; the colour bar
                                  xaxis=dict(title=dict(text=text("figure.pc1", percent=100 * explained[0])),
                                             range=_fitted(xs)),
                                  yaxis=dict(title=dict(text=text("figure.pc2", percent=100 * explained[1])),
                                             range=_fitted(ys))))


def _fitted(values: list[float], margin: float = 0.25) -> list[float]:
    """An axis range around `values` with a margin, never narrower than a tenth of their size."""
    low, high = min(values), max(values)
    span = max(high - low, 0.1 * max(abs(low), abs(high)), 1e-6)
    return [low - margin * span, high + margin * span]


def probability_figure(trace: dict, step: int, class_names: list[str]) -> PlotData:
    """Class probabilities of the query at θ and at φ_k; the predicted class is highlighted."""
    before = trace["records"][0]["probabilities"][0]
    now = trace["records"][step]["probabilities"][0]
    predicted = max(range(len(now)), key=now.__getitem__)
    colors = [PHI if i == predicted else "#93c5fd" for i in range(len(now))]
    data = [dict(type="bar", x=class_names, y=before, name=text("figure.before"), marker=dict(color="#cbd5e1")),
            dict(type="bar", x=class_names, y=now, name=text("figure.phi_k", step=step),
                 marker=dict(color=colors), text=[f"{p:.0%}" for p in now], textposition="outside")]
    return fast_figure(data, dict(barmode="group", height=280, margin={**LAYOUT["margin"], "b": 40},  # no x title
                                  title=dict(text=text("figure.query_title", name=class_names[predicted],
                                                       probability=now[predicted])),
                                  yaxis=dict(range=[0, 1.1], title=dict(text=text("figure.probability")))))


def distance_figure(trace: dict, step: int) -> PlotData:
    """Per-layer ‖φ_k − θ‖: where adaptation happens (ANIL moves only the head)."""
    distance = trace["records"][step]["distance"]
    peak = max([max(r["distance"].values()) for r in trace["records"]] + [1e-12])
    data = [dict(type="bar", x=list(distance), y=rounded(list(distance.values())), marker=dict(color=PHI))]
    return fast_figure(data, dict(title=dict(text=text("figure.distance_title", step=step)),
                                  yaxis=dict(range=[0, 1.1 * peak], title=dict(text=text("figure.distance")))))


BELOW = dict(orientation="h", yanchor="top", y=-0.22, x=0)  # a legend under subplots, clear of their titles
METHOD_COLORS = {"maml": "#111827", "fomaml": "#2563eb", "anil": "#16a34a", "reptile": "#f59e0b", "imaml": "#9333ea"}


def cosine_figure(comparison: dict, labels: dict[str, str]) -> go.Figure:
    """Cosine of each method's meta-gradient to second-order MAML's, per layer and in total, as bars."""
    figure = go.Figure()
    layers = list(next(iter(comparison.values()))["cosine_per_layer"])
    for name, row in comparison.items():
        if name == "maml":
            continue
        values = [row["cosine_per_layer"][layer] for layer in layers] + [row["cosine"]]
        figure.add_bar(x=layers + [text("figure.total")], y=values, name=labels[name],
                       marker_color=METHOD_COLORS[name])
    figure.update_layout(**LAYOUT, barmode="group", title=text("figure.cosine_title"),
                         yaxis=dict(range=[-1.05, 1.05], title=text("figure.cosine")))
    return figure


def arrows_figure(plane: dict, labels: dict[str, str]) -> go.Figure:
    """Every meta-gradient projected on the plane of g_MAML and g_FO, as arrows from the origin."""
    figure = go.Figure()
    reach = max([max(abs(x), abs(y)) for x, y in plane.values()] + [1e-12])
    for name, (x, y) in plane.items():
        figure.add_annotation(x=x, y=y, ax=0, ay=0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                              arrowhead=3, arrowwidth=2.5, arrowcolor=METHOD_COLORS[name])
        figure.add_scatter(x=[x], y=[y], mode="markers+text", text=[labels[name]], textposition="top center",
                           marker=dict(color=METHOD_COLORS[name], size=6), showlegend=False)
    limit = [-1.15 * reach, 1.15 * reach]
    figure.update_layout(**LAYOUT, title=text("figure.plane_title"), xaxis=dict(range=limit, title="g_MAML"),
                         yaxis=dict(range=limit, title="⊥", scaleanchor="x"))
    return figure


def cost_figure(sweep: dict, labels: dict[str, str]) -> go.Figure:
    """Wall time and peak memory of each meta-gradient against the inner steps S, memory slopes in the legend."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=(text("figure.time_title"), text("figure.memory_title")))
    for name in sweep["seconds"]:
        color = METHOD_COLORS[name]
        figure.add_scatter(x=sweep["steps"], y=[1000 * s for s in sweep["seconds"][name]], mode="lines+markers",
                           name=labels[name], line=dict(color=color), legendgroup=name, row=1, col=1)
        figure.add_scatter(x=sweep["steps"], y=[b / 1024 for b in sweep["peak_bytes"][name]], mode="lines+markers",
                           name=text("figure.slope", name=labels[name], slope=sweep["memory_slope"][name] / 1024),
                           line=dict(color=color, dash="dot"), legendgroup=name, row=1, col=2)
    figure.update_layout(**{**LAYOUT, "height": 460, "legend": BELOW})
    figure.update_xaxes(title_text=text("figure.inner_steps"))
    figure.update_yaxes(title_text=text("figure.milliseconds"), row=1, col=1)
    figure.update_yaxes(title_text=text("figure.kib"), row=1, col=2)
    return figure


def graph_figure(graph: dict) -> go.Figure:
    """What create_graph=True keeps: autograd nodes and saved KiB, with and without it."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=(text("figure.nodes"), text("figure.saved")))
    names = [text("figure.with_graph"), text("figure.without_graph")]
    figure.add_bar(x=names, y=[graph["with"]["nodes"], graph["without"]["nodes"]], marker_color=["#111827", "#2563eb"],
                   showlegend=False, row=1, col=1)
    figure.add_bar(x=names, y=[graph["with"]["saved_bytes"] / 1024, graph["without"]["saved_bytes"] / 1024],
                   marker_color=["#111827", "#2563eb"], showlegend=False, row=1, col=2)
    figure.update_layout(**{**LAYOUT, "height": 320}, title=text("figure.graph_title", steps=graph["steps"]))
    return figure


def agreement_figure(agreement: dict) -> go.Figure:
    """cos(g_MAML, g_FO) against S, one line per α: where first order is good enough."""
    figure = go.Figure()
    for lr, row in zip(agreement["inner_lrs"], agreement["cosines"]):
        figure.add_scatter(x=agreement["steps"], y=row, mode="lines+markers", name=text("figure.alpha_value", lr=lr))
    figure.update_layout(**LAYOUT, title=text("figure.agreement_title"), xaxis_title=text("figure.inner_steps"),
                         yaxis=dict(range=[-1.05, 1.05], title=text("figure.cosine")))
    return figure


def effect_figure(effect: dict, labels: dict[str, str]) -> go.Figure:
    """For up to three tasks: f(x; θ′) of each method's θ′ = θ − β·g before adapting (top row) and
    f(x; φ′) after S steps from it (bottom row), beside θ's own."""
    tasks = effect["tasks"]
    titles = [text(f"figure.effect_{row}", number=i + 1) for row in ("before", "after") for i in range(len(tasks))]
    figure = make_subplots(rows=2, cols=len(tasks), subplot_titles=titles, shared_xaxes=True,
                           vertical_spacing=0.12)
    for row, part in enumerate(("before", "after"), 1):
        for column, task in enumerate(tasks, 1):
            first = row == 1 and column == 1
            figure.add_scatter(x=task["support"][0], y=task["support"][1], mode="markers",
                               name=text("figure.support"), marker=dict(color=SUPPORT, size=7), legendgroup="support",
                               showlegend=first, row=row, col=column)
            for name, curve in task[part].items():
                style = dict(color=THETA, dash="dash") if name == "theta" else dict(color=METHOD_COLORS[name])
                figure.add_scatter(x=effect["grid"], y=curve, mode="lines", name=labels[name], line=style,
                                   legendgroup=name, showlegend=first, row=row, col=column)
    figure.update_layout(**{**LAYOUT, "height": 560, "legend": BELOW}, title=text("figure.effect_title"))
    return figure


def running_mean(values: list[float], window: int) -> list[float]:
    """The mean of the last `window` values at each position (fewer at the start)."""
    means, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        means.append(total / min(i + 1, window))
    return means


def training_figure(history: dict, labels: dict[str, str], window: int = 25) -> go.Figure:
    """Each algorithm's meta-training loss (running mean of `window` iterations) against iterations and
    against its own wall time."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=(text("figure.by_iteration", window=window),
                                                           text("figure.by_time")))
    for name, label in labels.items():
        color = METHOD_COLORS[name]
        smooth = running_mean(history["losses"][name], window)
        figure.add_scatter(x=history["iteration"], y=smooth, mode="lines", name=label,
                           line=dict(color=color, width=2.5), legendgroup=name, row=1, col=1)
        figure.add_scatter(x=history["seconds"][name], y=smooth, mode="lines", name=label,
                           line=dict(color=color, width=2.5), legendgroup=name, showlegend=False, row=1, col=2)
    figure.update_layout(**{**LAYOUT, "height": 380, "legend": BELOW})
    figure.update_xaxes(title_text=text("figure.iteration"), row=1, col=1)
    figure.update_xaxes(title_text=text("figure.seconds"), row=1, col=2)
    figure.update_yaxes(title_text=text("figure.meta_loss"),
                        **log_axis([v for name in labels for v in running_mean(history["losses"][name], window)]))
    return figure


def accuracy_figure(history: dict, labels: dict[str, str]) -> go.Figure:
    """Each algorithm's validation accuracy at every validation, against iterations."""
    figure = go.Figure()
    for name, label in labels.items():
        figure.add_scatter(x=history["validated"], y=history["accuracy"][name], mode="lines+markers", name=label,
                           line=dict(color=METHOD_COLORS[name], width=2.5))
    figure.update_layout(**LAYOUT, title=text("figure.accuracy_title"), xaxis_title=text("figure.iteration"),
                         yaxis=dict(title=text("figure.accuracy"), range=[0, 1], tickformat=".0%"))
    return figure


def validation_figure(chunk: dict, label: str) -> go.Figure:
    """f(x; θ) and f(x; φ) after the inner steps, on fixed validation tasks, as θ is learned."""
    curves = chunk["curves"]
    figure = make_subplots(rows=1, cols=len(curves), subplot_titles=[text("figure.task", number=i + 1)
                                                                      for i in range(len(curves))])
    for column, task in enumerate(curves, 1):
        first = column == 1
        figure.add_scatter(x=task["support"][0], y=task["support"][1], mode="markers", name=text("figure.support"),
                           marker=dict(color=SUPPORT, size=8), showlegend=first, row=1, col=column)
        figure.add_scatter(x=chunk["grid"], y=task["before"], mode="lines", name=text("figure.theta_curve"),
                           line=dict(color=THETA, dash="dash"), showlegend=first, row=1, col=column)
        figure.add_scatter(x=chunk["grid"], y=task["after"], mode="lines", name=text("figure.phi_after"),
                           line=dict(color=PHI, width=3), showlegend=first, row=1, col=column)
    figure.update_layout(**{**LAYOUT, "height": 340, "legend": BELOW},
                         title=text("figure.validation_title", algorithm=label, iteration=chunk["iteration"]))
    return figure
