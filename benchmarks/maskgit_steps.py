"""Parallel decoding measured: a masked prior's sample quality and speed against its number of steps, beside the
autoregressive priors over the very same codes.

    python benchmarks/maskgit_steps.py [--steps 1 2 4 8 16 49] [--guidance 0 1] [--per-class 50] [--repeats 5]

7×7 (the shipped MNIST models, one VQ-VAE): for each number of steps of checkpoints/mnist_maskgit.safetensors,
without and with classifier-free guidance (--guidance: each value a row per number of steps), and for the
cached PixelCNN (mnist), Transformer (mnist_transformer) and RNN (mnist_rnn): the share of 500 class-conditional
samples (temperature 1, seeds 0..4) that the MNIST classifier reads as their class, and the time per image to
sample and decode at batch 1 and 16 (median of --repeats). The timings run round-robin — every setting once,
then every setting again — so a slow spell of a shared CPU falls on all settings alike, not on one.

14×14: the shipped mnist_14x14 (a PixelCNN, where it is built) is measured as the 7×7 models are. The other
families have no 14×14 model (a recipe is hours of a 2-core CPU each), so only their speed is measured there,
with untrained priors of the shipped sizes on a 14×14 grid (K = 512): the prior's time alone, no decoder.
Untrained weights cost exactly what trained ones do.

Prints markdown tables and writes benchmarks/results/maskgit_steps.{csv,md,png}.
"""

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vq_explorer import load  # noqa: E402
from vq_explorer.commands.evaluate import sample_accuracy  # noqa: E402
from vq_explorer.models.config import MaskGITConfig, PriorConfig, RNNConfig, TransformerConfig  # noqa: E402
from vq_explorer.models.priors import build_prior  # noqa: E402
from vq_explorer.storage.checkpoint import load_classifier  # noqa: E402
from vq_explorer.views import results  # noqa: E402
from vq_explorer.views.charts import save_png, steps_figure  # noqa: E402

OUT = ROOT / "benchmarks" / "results"
CHECKPOINTS = ROOT / "checkpoints"
CLASSIFIER = ROOT / "tests" / "fixtures" / "mnist_classifier.safetensors"
COLUMNS = ["grid", "prior", "steps", "guidance", "accuracy", "ms_b1", "ms_b16", "what"]


def round_robin_ms(timed: list[tuple[dict, str, int, object]], repeats: int):
    """timed: (row, column, images per call, fn). Runs every fn once per round, `repeats` rounds after a
    warm-up round, and stores the median ms per image in row[column]."""
    times = [[] for _ in timed]
    for round_ in range(repeats + 1):
        for i, (_, _, _, fn) in enumerate(timed):
            t = time.perf_counter()
            fn()
            if round_:
                times[i].append(time.perf_counter() - t)
    for (row, column, per, _), ts in zip(timed, times, strict=True):
        row[column] = statistics.median(ts) / per * 1e3


def trained_rows(args, classifier) -> list[dict]:
    """7×7: every prior over the mnist VQ-VAE's codes; the masked one at each number of steps. 14×14: the
    shipped PixelCNN over that grid's codes."""
    rows, timed = [], []
    masked = [(s, g) for g in args.guidance for s in args.steps]
    for name, settings in (("mnist", [(None, 0)]), ("mnist_transformer", [(None, 0)]), ("mnist_rnn", [(None, 0)]),
                           ("mnist_maskgit", masked), ("mnist_14x14", [(None, 0)])):
        if name == "mnist_14x14" and args.skip_14:
            continue
        path = CHECKPOINTS / f"{name}.safetensors"
        if not path.exists():
            print(f"skipping {name}: {path} is missing", file=sys.stderr)
            continue
        model = load(path, device="cpu")
        for steps, guidance in settings:
            print(f"{name} steps={steps or 'one per cell'} guidance={guidance} …", file=sys.stderr, flush=True)
            acc = sample_accuracy(model, classifier, args.per_class, 1.0, seed=0, steps=steps, guidance=guidance)

            def run(n, steps=steps, guidance=guidance, model=model):
                labels = torch.arange(n) % model.prior.cfg.num_classes
                return lambda: model.decode(model.sample(n, labels=labels, seed=0, steps=steps, guidance=guidance))
            h, w = model.config["grid"]
            rows.append({"grid": f"{h}x{w}", "prior": model.prior.cfg.type, "steps": steps or h * w,
                         "guidance": guidance, "accuracy": acc, "what": f"{name}: sample + decode"})
            timed += [(rows[-1], "ms_b1", 1, run(1)), (rows[-1], "ms_b16", 16, run(16))]
    print("timing, round-robin …", file=sys.stderr, flush=True)
    round_robin_ms(timed, args.repeats)
    return rows


def untrained_rows(args, trained: set[str]) -> list[dict]:
    """14×14: the shipped sizes on a 196-cell grid, untrained; the prior alone. `trained`: the families a
    trained 14×14 row already measures."""
    K, shape = 512, (14, 14)
    priors = [("pixelcnn", PriorConfig(num_codes=K, channels=64, layers=10, num_classes=10), [None]),
              ("transformer", TransformerConfig(num_codes=K, rows=14, cols=14, num_classes=10), [None]),
              ("rnn", RNNConfig(num_codes=K, rows=14, cols=14, num_classes=10, dim=128, hidden=240, layers=2),
               [None]),
              ("maskgit", MaskGITConfig(num_codes=K, rows=14, cols=14, num_classes=10), [*args.steps, 196])]
    rows, timed = [], []
    torch.manual_seed(0)
    for family, cfg, steps_list in priors:
        if family in trained:
            continue
        prior = build_prior(cfg).eval()
        for steps in steps_list:
            steps = None if steps is None else min(steps, 196)

            def run(n, steps=steps, prior=prior):
                return lambda: prior.sample(n, shape, labels=torch.arange(n) % 10, seed=0, steps=steps)
            rows.append({"grid": "14x14", "prior": family, "steps": steps or 196, "guidance": 0, "accuracy": None,
                         "what": "untrained, prior only"})
            timed += [(rows[-1], "ms_b1", 1, run(1)), (rows[-1], "ms_b16", 16, run(16))]
    round_robin_ms(timed, max(1, args.repeats // 2))
    return rows


def markdown(rows) -> str:
    """The table and, under it, what it says (both from vq_explorer.views.results, as the Trade-off tab shows
    them)."""
    return results.steps_table(rows) + "\n\n" + results.steps_findings(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8, 16, 49])
    ap.add_argument("--guidance", type=float, nargs="+", default=[0.0, 1.0])
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-14", action="store_true", help="only the 7×7 models")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    classifier = load_classifier(CLASSIFIER)
    rows = trained_rows(args, classifier)
    if not args.skip_14:
        rows += untrained_rows(args, {r["prior"] for r in rows if r["grid"] == "14x14"})
    table = markdown(rows)
    print(f"{args.threads} threads, torch {torch.__version__}, median of {args.repeats} round-robin repeats "
          f"({max(1, args.repeats // 2)} at 14×14)\n\n{table}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "maskgit_steps.md").write_text(table + "\n")
    with open(OUT / "maskgit_steps.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    fig = steps_figure(rows)
    fig.write_html(OUT / "maskgit_steps.html", include_plotlyjs="cdn")
    failed = save_png(fig, OUT / "maskgit_steps.png")
    if failed:
        print(f"maskgit_steps.png not drawn ({failed}); maskgit_steps.html has the chart", file=sys.stderr)


if __name__ == "__main__":
    main()
