"""Loss curves from a run's metrics.jsonl: an interactive plotly HTML and, with matplotlib, a static PNG."""

import json
from pathlib import Path

PANELS = [("vqvae", "mse", "test_mse", "VQ-VAE reconstruction MSE", True),
          ("vqvae", "perplexity", None, "codebook perplexity (batch)", False),
          ("prior", "bits/code", "test_bits/code", "prior NLL, bits per code", False),
          ("prior", "bits/masked code", "test_bits/masked code", "masked prior: bits per hidden code", False)]


def read_log(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _series(rows, stage, key, split):
    pts = [(r["epoch"], r[key]) for r in rows if r.get("stage") == stage and key in r
           and (r.get("split") == split)]
    return [p[0] for p in pts], [p[1] for p in pts]


def write_curves(log_path, out_stem) -> list[Path]:
    """out_stem.html (plotly) and, where matplotlib is installed (requirements-dev.txt; the app does not need
    it), out_stem.png: a static picture needs no browser."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = read_log(log_path)
    # only the panels this run has data for (a run that took its VQ-VAE from a checkpoint logs only its prior)
    panels = [p for p in PANELS if any(r.get("stage") == p[0] and p[1] in r for r in rows)] or PANELS[:1]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[3] for p in panels])
    for i, (stage, train_key, test_key, _, log_y) in enumerate(panels, start=1):
        for key, split, name in ((train_key, None, "train"), (test_key, "test", "test")):
            x, y = _series(rows, stage, key, split) if key else ([], [])
            if x:
                fig.add_trace(go.Scatter(x=x, y=y, name=f"{stage} {name}", mode="lines+markers" if split
                                         else "lines"), row=1, col=i)
        fig.update_xaxes(title_text="epoch", row=1, col=i)
        if log_y:
            fig.update_yaxes(type="log", row=1, col=i)
    fig.update_layout(height=380, width=430 * len(panels) + 100, showlegend=True, template="plotly_white")
    out_stem = Path(out_stem)
    fig.write_html(out_stem.with_suffix(".html"), include_plotlyjs=True)
    written = [out_stem.with_suffix(".html")]
    if _png(rows, panels, out_stem.with_suffix(".png")):
        written.append(out_stem.with_suffix(".png"))
    return written


def _png(rows, panels, path: Path) -> bool:
    """The same panels as a PNG with matplotlib; False where it is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    mfig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (stage, train_key, test_key, title, log_y) in zip(axes[0], panels, strict=True):
        for key, split, name in ((train_key, None, "train"), (test_key, "test", "test")):
            x, y = _series(rows, stage, key, split) if key else ([], [])
            if x:
                ax.plot(x, y, "o-" if split else "-", label=name, markersize=3)
        if log_y:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        if ax.lines:
            ax.legend(fontsize=8)
    mfig.tight_layout()
    mfig.savefig(path, dpi=110)
    plt.close(mfig)
    return True


if __name__ == "__main__":   # python -m vq_explorer.views.report runs/<name>/metrics.jsonl docs/<name>_curves
    import sys
    for p in write_curves(Path(sys.argv[1]), Path(sys.argv[2])):
        print(p)
