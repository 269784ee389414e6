"""Do colour samples show their class? The share of class-conditional samples a CIFAR-10 classifier reads as the
class asked for, and the Fréchet distance between samples and test images in that classifier's features.

    python benchmarks/class_share.py [--models cifar10 cifar10_maskgit] [--per-class 50] [--threads 2]

Rows: CIFAR-10 test images themselves (50 per class), their reconstructions by each model's VQ-VAE, then each
model's samples at the app's defaults (temperature 1; a masked prior at its own steps and guidance) and at other
temperatures, steps, guidance scales and choice temperatures (the noise that picks which cells a step commits).
The classifier is tests/fixtures/cifar10_classifier.safetensors (trained by `python -m
vq_explorer.commands.classifier --dataset cifar10`), kept apart from every VQ-VAE. The Fréchet distance compares
each row's 500 images with 5,000 other test images in the classifier's penultimate features (256 numbers): the
test images' own row is the floor that 500 images can reach, and a prior that drew one image per class would score
its class well and its distance badly. Writes benchmarks/results/class_share.md.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vq_explorer import load  # noqa: E402
from vq_explorer.models.metrics import frechet_distance  # noqa: E402
from vq_explorer.storage.checkpoint import load_classifier  # noqa: E402
from vq_explorer.storage.data import load_dataset, to_float  # noqa: E402

CLASSIFIER = ROOT / "tests" / "fixtures" / "cifar10_classifier.safetensors"


def settings(model) -> list[dict]:
    """The app's defaults first, then the other knobs one at a time."""
    if model.prior.cfg.type == "maskgit":
        g, s, c = model.prior.cfg.guidance, model.prior.cfg.steps, model.prior.cfg.choice_temperature
        return [{"temperature": 1.0, "steps": s, "guidance": g},
                *({"temperature": 1.0, "steps": s, "guidance": x} for x in (0, 1, 2, 3, 4, 6) if x != g),
                *({"temperature": 1.0, "steps": x, "guidance": g} for x in (2, 3, 4, 8, 16) if x != s),
                *({"temperature": 1.0, "steps": s, "guidance": g, "choice_temperature": x} for x in (0.0, 2.0, 4.5)
                  if x != c),
                {"temperature": 0.85, "steps": s, "guidance": g}]
    return [{"temperature": 1.0}, {"temperature": 0.85}]


def draw(model, labels: torch.Tensor, seed: int, setting: dict) -> torch.Tensor:
    """Grids of the classes asked for; the choice temperature is the masked prior's own knob, not the app's."""
    if "choice_temperature" in setting:
        return model.prior.sample(len(labels), model.grid, labels=labels, seed=seed, **setting).cpu()
    return model.sample(len(labels), labels=labels, seed=seed, **setting)


@torch.no_grad()
def features(classifier, images: torch.Tensor) -> torch.Tensor:
    classifier.eval()
    return torch.cat([classifier.features(images[i:i + 500]) for i in range(0, len(images), 500)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=["cifar10", "cifar10_maskgit"])
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "class_share.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    classifier = load_classifier(CLASSIFIER)
    try:
        data = load_dataset("cifar10", args.data_root)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    picked = torch.cat([(data.test_y == c).nonzero()[: args.per_class, 0] for c in range(10)])
    reference = torch.ones(len(data.test_y), dtype=torch.bool)
    reference[picked] = False
    ref = features(classifier, to_float(data.test_x[reference][:5000]))
    x, y = to_float(data.test_x[picked]), data.test_y[picked]

    def row(what: str, images: torch.Tensor, seconds: float | None = None) -> str:
        share = float((classifier.predict(images) == y).float().mean())
        fd = frechet_distance(features(classifier, images), ref)
        per = "" if seconds is None else f"{1e3 * seconds / len(images):.0f}"
        line = f"| {what} | {share:.1%} | {fd:.1f} | {per} |"
        print(line, flush=True)
        return line

    lines = [f"`python benchmarks/class_share.py --models {' '.join(args.models)} --per-class {args.per_class}` "
             f"({args.threads} threads); classifier: {CLASSIFIER.relative_to(ROOT)} (test accuracy "
             f"{float((classifier.predict(to_float(data.test_x)) == data.test_y).float().mean()):.1%})", "",
             "| images shown to the classifier | read as their class | Fréchet distance to test images | "
             "ms per sample |", "|---|---|---|---|", row("CIFAR-10 test images", x)]
    for name in args.models:
        path = ROOT / "checkpoints" / f"{name}.safetensors"
        if not path.exists():
            continue
        model = load(path, device="cpu")
        if model.prior.cfg.type == "pixelcnn" or name == args.models[0]:
            recon = torch.cat([model.decode(model.encode(x[i:i + 250])) for i in range(0, len(x), 250)])
            lines.append(row(f"their reconstructions by {name}'s VQ-VAE", recon))
        for s in settings(model):
            t = time.perf_counter()
            grids = torch.cat([draw(model, chunk, i, s) for i, chunk in enumerate(y.split(100))])
            images = model.decode(grids)
            knobs = ", ".join(f"{k} {v:g}" for k, v in s.items())
            lines.append(row(f"{name} samples ({model.prior.cfg.type}), {knobs}", images, time.perf_counter() - t))
    text = "\n".join(lines)
    args.out.write_text(text + "\n")
    print(f"\n{text}\n\nwritten to {args.out}")


if __name__ == "__main__":
    main()
