"""Charts for people: plotly figures of grids, vectors, usage, probabilities, the measured trade-offs and the
codebook lab. The UI decides where they go (pictures are in views.pictures)."""

import math

import numpy as np
import plotly.graph_objects as go
import torch

from . import results
from .pictures import code_colour
from .results import DATASETS, SETS, curve, family, grid_name, label, models_at, num, rate_bytes

AXES = dict(gridcolor="#ebf0f8", zerolinecolor="#ebf0f8", linecolor="#ebf0f8", automargin=True)


def steps_text(row: dict) -> str:
    """A masked prior's number of steps as a point's label: "1 step", "8 steps"."""
    n = int(row["steps"])
    return f"{n} step{'' if n == 1 else 's'}"


def log_range(traces, right: float) -> list[float]:
    """A log axis over every point's x, with `right` decades to spare for the labels of the slowest points (plotly
    fits the axis to the markers, not to their text, and clips it)."""
    xs = [x for d in traces for x in d.x if x and x > 0] or [1.0, 100.0]
    return [math.log10(min(xs)) - 0.1, math.log10(max(xs)) + right]


def _figure(traces, title: str, height: int = 320, xaxis: dict | None = None, yaxis: dict | None = None,
            validate: bool = True, **layout):
    """A figure built in one call with the look of plotly's "plotly_white" but not its template: applying that
    template, or updating a figure afterwards, costs 20–30 ms, most of a streamed sampling step's budget."""
    return go.Figure(traces, _validate=validate, layout={
        **dict(title=dict(text=title, font=dict(size=14)), height=height, template="none",
               font=dict(color="#2a3f5f"), margin=dict(l=40, r=10, t=40, b=35), paper_bgcolor="white",
               plot_bgcolor="white",
               xaxis={**AXES, **(xaxis or {})}, yaxis={**AXES, **(yaxis or {})}), **layout})


def save_png(fig: go.Figure, path, width: int = 900) -> str | None:
    """A static copy of a figure for the README: the very chart the app draws, through plotly's kaleido (which
    drives a Chrome or Chromium). None when written; otherwise why not, for the caller to say."""
    for _ in range(2):   # kaleido's first page can fail before its scripts load; a second try succeeds
        try:
            fig.write_image(path, width=width, height=fig.layout.height or 500)
            return None
        except Exception as e:  # kaleido or a browser missing: the HTML beside it still holds the chart
            error = f"{type(e).__name__}: {e}"
    return error


def grid_figure(grid: torch.Tensor, values: torch.Tensor | None = None, title: str = "code grid",
                unit: str = "bits", colorscale: str = "Viridis") -> go.Figure:
    """A heatmap of the grid: the code index on every cell and on hover; `values` (e.g. surprise) as colour."""
    g = grid.cpu().numpy()
    z = g if values is None else values.cpu().numpy()
    text = [[str(v) if v >= 0 else "" for v in row] for row in g]      # −1: not filled yet
    hover = "row %{y}, col %{x}<br>code %{text}" + ("" if values is None else f"<br>%{{z:.2f}} {unit}")
    # Indices written on the cells while they are legible; a photo's 64×64 grid shows them on hover only.
    written = "%{text}" if g.size <= 400 else None
    heatmap = go.Heatmap(z=z, text=text, texttemplate=written, hovertemplate=hover + "<extra></extra>",
                         colorscale=colorscale, showscale=values is not None,
                         colorbar=dict(title=unit) if values is not None else None)
    return _figure(heatmap, title, 340, xaxis=dict(constrain="domain"),
                   yaxis=dict(autorange="reversed", scaleanchor="x", constrain="domain"))


def note_figure(title: str, text: str) -> go.Figure:
    """A panel that has nothing to plot says why in its place, instead of a heatmap of zeros in one flat colour
    that reads like a measurement."""
    hidden = dict(visible=False)
    return _figure([], title, 340, xaxis=hidden, yaxis=hidden,
                   annotations=[dict(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                                     font=dict(size=13, color="#8a8f98"))])


def vector_figure(z: list[float], code: list[float] | None = None, title: str = "") -> go.Figure:
    """A cell's encoder vector z as bars, and the chosen code's vector beside it as dots (what replaced it)."""
    dims = list(range(len(z)))
    traces = [go.Bar(x=dims, y=z, name="z (encoder)", marker_color="#636efa",
                     hovertemplate="dimension %{x}<br>z %{y:.3f}<extra></extra>")]
    if code is not None:
        traces.append(go.Scatter(x=dims, y=code, mode="markers", name="chosen code e",
                                 marker=dict(color="#ef553b", size=7),
                                 hovertemplate="dimension %{x}<br>e %{y:.3f}<extra></extra>"))
    return _figure(traces, title, 260, xaxis=dict(title="dimension"), showlegend=code is not None,
                   legend=dict(orientation="h", y=1.15))


DRAW_ALL = 16384   # beyond this many codes, the charts draw the codes used (the others are counted, not drawn)


def usage_figure(counts: torch.Tensor, log_scale: bool = True) -> go.Figure:
    order = torch.argsort(counts, descending=True)
    if len(counts) > DRAW_ALL:
        order = order[: max(1, int((counts > 0).sum()))]
    c = counts[order].numpy()
    # Unvalidated: plotly checks each of a 16,384-code tokenizer's bar colours one by one (0.8 s of a Codebook
    # tab whose pictures come from the disk cache in a tenth of that); these colours and numbers are our own.
    bars = go.Bar(x=np.arange(len(c)), y=np.maximum(c, 0.5) if log_scale else c, customdata=order.numpy(),
                  marker_color=[f"rgb{code_colour(k)}" for k in order.tolist()],
                  hovertemplate="code %{customdata}<br>%{y:.0f} uses<extra></extra>", _validate=False)
    return _figure(bars, "code usage (sorted)", xaxis=dict(title="codes, most used first"), validate=False,
                   yaxis=dict(title="uses", type="log" if log_scale else "linear"))


def pca_figure(xy: torch.Tensor, counts: torch.Tensor) -> go.Figure:
    codes = np.arange(len(counts)) if len(counts) <= DRAW_ALL else np.flatnonzero(counts.numpy() > 0)
    c, xy = counts.numpy()[codes], xy[codes]
    points = go.Scatter(
        x=xy[:, 0].numpy(), y=xy[:, 1].numpy(), mode="markers", customdata=np.stack([codes, c], 1),
        marker=dict(size=7, color=np.log10(c + 1), colorscale="Viridis", showscale=True,
                    colorbar=dict(title="log10 uses"), line=dict(width=0.5, color="white")),
        hovertemplate="code %{customdata[0]}<br>%{customdata[1]} uses<extra></extra>")
    return _figure(points, "code vectors, first two principal components", 380, xaxis=dict(title="PC 1"),
                   yaxis=dict(title="PC 2"))


def probs_figure(probs: torch.Tensor, k: int = 10, chosen: int | None = None) -> go.Figure:
    """The k likeliest codes at a cell, and the chosen one beside them when it is not among them (at temperature
    1 over 1,024 codes it often is not). The axis follows the tallest bar: a spread-out distribution's 2% bars
    would be invisible on a 0–1 axis."""
    p, idx = probs.float().topk(min(k, len(probs)))
    if chosen is not None and int(chosen) not in idx.tolist():
        p, idx = torch.cat([p, probs.float()[int(chosen)].view(1)]), torch.cat([idx, torch.tensor([int(chosen)])])
    colours = ["#e4572e" if chosen is not None and int(i) == chosen else "#4c78a8" for i in idx]
    bars = go.Bar(x=[str(int(i)) for i in idx], y=p.numpy(), marker_color=colours,
                  hovertemplate="code %{x}<br>p = %{y:.3f}<extra></extra>")
    top = min(1.0, max(0.05, 1.15 * float(p.max()))) if len(p) else 1.0
    return _figure(bars, "top codes at the current cell (chosen in red)", 280,
                   xaxis=dict(title="code", type="category"), yaxis=dict(title="probability", range=[0, top]))


FAMILY_COLOURS = {"pixelcnn": "#4c78a8", "transformer": "#e4572e", "rnn": "#54a24b", "maskgit": "#b279a2"}
DATASET_SYMBOLS = {"mnist": "circle", "fashion_mnist": "diamond", "cifar10": "square"}


# Where each family's label sits beside its marker: priors over one VQ-VAE land close together, so their labels
# point different ways.
LABEL_SIDES = {"pixelcnn": "bottom right", "transformer": "bottom left", "rnn": "top left", "maskgit": "top right"}


def overview_figure(rows: list[dict], steps: list[dict] = (), batch: int = 1) -> go.Figure:
    """The trade-off in one picture: time to sample and decode an image (log) against reconstruction quality
    (top) and against how often the samples are read as their class (bottom), one labelled marker per model
    (rows as in benchmarks/tradeoff.py), the masked prior's numbers of steps as a line (rows as in
    benchmarks/maskgit_steps.py). `batch`: 1 (one image, the app's case) or 16 (per image in a batch)."""
    t = "sample_ms_b1" if batch == 1 else "sample_ms_b16"
    traces, vqvaes = [], {}
    for r in rows:   # priors over one VQ-VAE share its PSNR: the top panel names the VQ-VAE once
        vqvaes.setdefault((r["dataset"], r["grid"], num(r, "psnr")), []).append(r["model"])
    for r in rows:
        colour = FAMILY_COLOURS.get(family(r), "#555")
        marker = dict(size=13, color=colour, symbol=DATASET_SYMBOLS.get(r["dataset"], "circle"))
        name = f"{r['model']} ({label(r)})"
        hover = (f"{r['model']}: {label(r)}<br>%{{x:.1f}} ms per image<br>" + "%{y:.1f}")
        shared = vqvaes[(r["dataset"], r["grid"], num(r, "psnr"))]
        top = "" if r["model"] != shared[0] else (
            f"{grid_name(r)} {DATASETS.get(r['dataset'], r['dataset'])} VQ-VAE"
            + (f" ({len(shared)} priors)" if len(shared) > 1 else ""))
        traces.append(go.Scatter(x=[num(r, t)], y=[num(r, "psnr")], mode="markers+text", text=[top],
                                 textposition="top center", marker=marker, name=name, legendgroup=r["model"],
                                 hovertemplate=hover + " dB PSNR<extra></extra>"))
        if num(r, "sample_accuracy") is not None:
            traces.append(go.Scatter(x=[num(r, t)], y=[100 * num(r, "sample_accuracy")], mode="markers+text",
                                     text=[label(r)], textposition=LABEL_SIDES.get(family(r), "bottom right"),
                                     marker=marker, name=name, legendgroup=r["model"], showlegend=False,
                                     xaxis="x", yaxis="y2",
                                     hovertemplate=hover + "% read as their class<extra></extra>"))
    key = "ms_b1" if batch == 1 else "ms_b16"
    masked = [r for r in steps if r["prior"] == "maskgit" and r["grid"] == "7x7"
              and num(r, "accuracy") is not None]
    for g in sorted({num(r, "guidance") or 0.0 for r in masked}):
        line = sorted((r for r in masked if (num(r, "guidance") or 0.0) == g), key=lambda r: int(r["steps"]))
        traces.append(go.Scatter(
            x=[num(r, key) for r in line], y=[100 * num(r, "accuracy") for r in line],
            mode="lines+markers" if g else "lines+markers+text", textposition="top center",
            line=dict(color=FAMILY_COLOURS["maskgit"], dash="dot" if g else "solid"), marker=dict(size=7),
            text=[steps_text(r) for r in line], xaxis="x", yaxis="y2",
            textfont=dict(size=10),
            name="7×7 masked Transformer by steps" + (f", guidance {g:g}" if g else ""),
            hovertemplate="%{text}<br>%{x:.1f} ms per image<br>%{y:.1f}% read as their class<extra></extra>"))
    when = "one image" if batch == 1 else "per image in a batch of 16"
    psnr = [num(r, "psnr") for r in rows] or [0.0]
    shares = [y for d in traces if d.yaxis == "y2" for y in d.y] or [100.0]
    return _figure(traces, f"quality against sampling time ({when}), one marker per model", 620,
                   xaxis=dict(title=f"ms to sample and decode, {when} (log)", type="log", anchor="y2",
                              range=log_range(traces, right=0.3)),
                   # room above for the sharpest model's name
                   yaxis=dict(title="test PSNR, dB", domain=[0.56, 1], range=[min(psnr) - 1, max(psnr) + 2.5]),
                   yaxis2={**AXES, "title": "% of samples read as their class", "domain": [0, 0.44],
                           "anchor": "x", "range": [min(shares) - 5, 103]},
                   legend=dict(orientation="h", y=-0.15), margin=dict(l=50, r=10, t=40, b=40))


def steps_figure(rows: list[dict]) -> go.Figure:
    """Sample quality against time per image: the masked prior at each number of steps (a line), the cached
    autoregressive priors as single points (rows as in benchmarks/maskgit_steps.py)."""
    rs = [r for r in rows if r.get("accuracy") not in (None, "") and r["grid"] == "7x7"]
    traces = []
    for g in sorted({(num(r, "guidance") or 0.0) for r in rs if r["prior"] == "maskgit"}):
        masked = [r for r in rs if r["prior"] == "maskgit" and (num(r, "guidance") or 0.0) == g]
        traces.append(go.Scatter(
            x=[num(r, "ms_b1") for r in masked], y=[100 * num(r, "accuracy") for r in masked],
            mode="lines+markers+text", textposition="bottom right",
            text=[steps_text(r) for r in masked],
            name="masked Transformer (MaskGIT)" + (f", guidance {g:g}" if g else ""), marker=dict(size=10),
            hovertemplate="%{text}<br>%{x:.1f} ms/image<br>%{y:.1f}% read as their class<extra></extra>"))
    for r in rs:
        if r["prior"] != "maskgit":
            traces.append(go.Scatter(
                x=[num(r, "ms_b1")], y=[100 * num(r, "accuracy")], mode="markers", marker=dict(size=13,
                                                                                                 symbol="square"),
                name=f"{r['prior']} (cached, one step per cell)",
                hovertemplate="%{x:.1f} ms/image<br>%{y:.1f}% read as their class<extra></extra>"))
    return _figure(traces, "7×7 codes: quality against decoding steps and time", 420,
                   xaxis=dict(title="ms per image, batch 1 (sample + decode; log)", type="log",
                              range=log_range(traces, right=0.25)),
                   yaxis=dict(title="% of 500 samples read as their class"))


# --- the codebook lab -------------------------------------------------------------------------------------
LAB_COLOURS = ("#4c78a8", "#e4572e")


def _two_panels(traces, title: str, height: int, left: dict, right: dict, right_y: dict | None = None,
                left_y: dict | None = None) -> go.Figure:
    """Two side-by-side panels in one figure, built in one call (see _figure)."""
    return go.Figure(traces, layout=dict(
        title=dict(text=title, font=dict(size=14)), height=height, template="none", font=dict(color="#2a3f5f"),
        margin=dict(l=45, r=10, t=40, b=80), paper_bgcolor="white", plot_bgcolor="white",
        legend=dict(orientation="h", y=-0.35), xaxis={**AXES, "domain": [0, 0.45], **left},
        xaxis2={**AXES, "domain": [0.55, 1], "anchor": "y2", **right}, yaxis={**AXES, **(left_y or {})},
        yaxis2={**AXES, "anchor": "x2", **(right_y or {})}))


def lab_curves(runs: list[tuple[str, dict]]) -> go.Figure:
    """Reconstruction MSE and codebook perplexity (of each batch) against steps, one colour per variant."""
    traces = []
    for (variant, h), colour in zip(runs, LAB_COLOURS, strict=False):
        traces += [go.Scatter(x=h["step"], y=h["mse"], name=f"{variant}: MSE", line=dict(color=colour)),
                   go.Scatter(x=h["step"], y=h["perplexity"], name=f"{variant}: perplexity", xaxis="x2",
                              yaxis="y2", line=dict(color=colour, dash="dot"))]
    return _two_panels(traces, "training: reconstruction error and codes in use", 300, dict(title="step"),
                       dict(title="step"), dict(title="batch perplexity", type="log"),
                       dict(title="MSE (batch)", rangemode="tozero"))


def lab_usage(runs: list[tuple[str, torch.Tensor]]) -> go.Figure:
    """Each variant's code usage over the test images, most used first: a long flat tail is a healthy codebook,
    a few spikes and a floor of zeros is collapse."""
    traces = []
    for (variant, counts), colour in zip(runs, LAB_COLOURS, strict=False):
        c = torch.sort(counts, descending=True).values.numpy()
        traces.append(go.Bar(x=list(range(len(c))), y=np.maximum(c, 0.5), name=variant, marker_color=colour,
                             opacity=0.7, hovertemplate="%{y:.0f} uses<extra>" + variant + "</extra>"))
    return _figure(traces, "code usage on the test images (sorted; zero = dead)", 280,
                   xaxis=dict(title="codes, most used first"), yaxis=dict(title="uses", type="log"),
                   barmode="overlay", legend=dict(orientation="h", y=-0.35), margin=dict(l=45, r=10, t=40, b=80))


def lab_map(runs: list[tuple[str, object]]) -> go.Figure:
    """Code vectors (dots, red crosses when unused) among the encoder outputs they chase (grey), on each
    variant's first two principal components."""
    traces = []
    for i, (variant, f) in enumerate(runs[:2]):
        axes = {} if i == 0 else {"xaxis": "x2", "yaxis": "y2"}
        used = f.usage > 0
        traces += [
            go.Scatter(x=f.outputs_xy[:, 0].numpy(), y=f.outputs_xy[:, 1].numpy(), mode="markers",
                       showlegend=False, marker=dict(size=4, color="rgba(120,120,120,0.35)"), hoverinfo="skip",
                       **axes),
            go.Scatter(x=f.codes_xy[used, 0].numpy(), y=f.codes_xy[used, 1].numpy(), mode="markers",
                       name=f"{variant}: used codes", marker=dict(size=7, color=LAB_COLOURS[i]), **axes),
            go.Scatter(x=f.codes_xy[~used, 0].numpy(), y=f.codes_xy[~used, 1].numpy(), mode="markers",
                       name=f"{variant}: dead codes", marker=dict(size=6, color="#d62728", symbol="x"), **axes)]
    titles = " | ".join(v for v, _ in runs[:2])
    return _two_panels(traces, f"code vectors among the encoder outputs (grey): {titles}", 360,
                       dict(title="PC 1"), dict(title="PC 1"), dict(title="PC 2"), dict(title="PC 2"))


CODEC_COLOURS = {"WebP": "#72b7b2", "JPEG": "#f58518", "AVIF": "#9d755d"}


def rate_figure(rows: list[dict], image_set: str, less_fixed: bool = False) -> go.Figure:
    """PSNR against bytes per image (log) on one set of images: each lossy format (WebP, JPEG, AVIF) as a curve
    over its quality settings, one marker per model at its real file size (rows as in
    benchmarks/results/rate_distortion.csv); the title says where a format needs fewer bytes than a model.
    `less_fixed`: every point less its format's fixed cost (our header; an all-black image in that format)."""
    traces = []
    for codec in results.classic_codecs(rows, image_set):
        points, colour = curve(rows, image_set, codec), CODEC_COLOURS.get(codec, "#888888")
        if points:
            traces.append(go.Scatter(
                x=[rate_bytes(r, less_fixed) for r in points], y=[num(r, "psnr") for r in points],
                mode="lines+markers", line=dict(color=colour), marker=dict(size=6), name=f"{codec} (quality 1–95)",
                text=[f"{codec} quality {num(r, 'quality'):.0f}" for r in points],
                hovertemplate="%{text}<br>%{x:,.0f} bytes<br>%{y:.2f} dB<extra></extra>"))
    shared = {}
    for m in models_at(rows, image_set):   # priors over one VQ-VAE share its PSNR: their points sit side by side
        shared.setdefault((m["grid"], m["psnr"]), []).append(m["codec"])
    for m in models_at(rows, image_set):
        tag = m["codec"] if m["grid"] == "own size" else f"{m['codec']} ({label(m)})"
        group = shared[(m["grid"], m["psnr"])]
        text = "" if m["codec"] != group[0] else (m["codec"] if len(group) == 1 else
                                                   f"{grid_name(m)}: {len(group)} priors")
        traces.append(go.Scatter(
            x=[rate_bytes(m, less_fixed)], y=[num(m, "psnr")], mode="markers+text", text=[text],
            textposition="top center", name=tag,
            marker=dict(size=13, color=FAMILY_COLOURS.get(m.get("prior"), "#555"), symbol="star",
                        line=dict(width=1, color="white")),
            hovertemplate=f"{tag}<br>%{{x:,.1f}} bytes per image<br>%{{y:.2f}} dB<extra></extra>"))
    what = "without fixed headers" if less_fixed else "whole files"
    title = f"{SETS.get(image_set, image_set)}: PSNR against bytes per image ({what})"
    beaten = [] if less_fixed else results.smaller_than_ours(rows, image_set)
    if beaten:
        title += "<br><sup>" + "; ".join(beaten) + "</sup>"
    return _figure(traces, title, 460 + 20 * bool(beaten),
                   xaxis=dict(title=f"bytes per image, {what} (log)", type="log", range=log_range(traces, 0.15)),
                   yaxis=dict(title="PSNR, dB"), legend=dict(orientation="h", y=-0.2),
                   margin=dict(l=50, r=10, t=40 + 20 * bool(beaten), b=40))
