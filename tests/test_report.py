"""Loss curves: one panel per kind of figure the run logged, nothing empty."""

import json

from vq_explorer.views.report import write_curves


def test_curves_show_only_what_the_run_logged(tmp_path):
    """A masked prior trained on another checkpoint's VQ-VAE logs only its prior's masked-code bits: that is the
    one panel, with its train and test series."""
    log = tmp_path / "metrics.jsonl"
    rows = [{"stage": "prior", "epoch": e / 2, "bits/masked code": 7 - e / 4} for e in range(1, 5)]
    rows += [{"stage": "prior", "epoch": e, "split": "test", "test_bits/masked code": 6.5 - e / 4} for e in (1, 2)]
    log.write_text("\n".join(json.dumps(r) for r in rows))
    html, png = write_curves(log, tmp_path / "curves")
    text = html.read_text()
    assert png.stat().st_size > 1000
    assert "masked prior: bits per hidden code" in text and "VQ-VAE reconstruction MSE" not in text
    assert '"name":"prior train"' in text and '"name":"prior test"' in text
