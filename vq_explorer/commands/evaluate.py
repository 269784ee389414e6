"""Evaluate a checkpoint on a test split: reconstruction, codebook usage, prior likelihood, and a sample sheet.

    python -m vq_explorer.commands.evaluate checkpoints/mnist.safetensors [--sheet samples.png] [--classifier F]

prints the figures, stores them in the checkpoint's metrics (atomically) and writes a 10×10 sample sheet.

    python -m vq_explorer.commands.evaluate --models A B ... --images DIR [--size S] [--limit N] [--out F.csv]

evaluates several models side by side over a folder of pictures (vq_explorer.commands.evaluate_models).
"""

import argparse
import math
import time
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from ..models import metrics
from ..models.usage import code_stats
from ..storage.checkpoint import CheckpointError, load, update_metrics
from ..storage.data import load_dataset, to_float
from . import evaluate_models


@torch.no_grad()
def evaluate(model, images: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 500) -> dict:
    """Figures over the whole of `images` (uint8 N×C×H×W): usage is counted over the full pass, not a batch.
    A masked prior has no likelihood and a lab model no prior, so their figures have no bits."""
    K = model.config["num_codes"]
    exact = model.prior is not None and model.prior.exact_likelihood
    conditional = exact and bool(model.config.get("class_names")) and model.prior.cfg.num_classes > 0
    sq_err, n_pix, nll, counts = 0.0, 0, 0.0, torch.zeros(K, dtype=torch.long)
    for i in range(0, len(images), batch_size):
        x = to_float(images[i:i + batch_size])
        idx = model.encode(x)
        recon = model.decode(idx)
        sq_err += float((recon - x).pow(2).sum())
        n_pix += x.numel()
        counts += metrics.code_counts(idx, K)
        y = labels[i:i + batch_size] if conditional and labels is not None else None
        nll -= float(model.log_prob(idx, y).sum()) if exact else 0.0
    n, cells = len(images), math.prod(model.grid)
    mse = sq_err / n_pix
    bits = {"bits_per_code": metrics.bits(nll / n / cells), "bits_per_image": metrics.bits(nll / n),
            "conditional_nll": conditional} if exact else {}
    return {"test_images": n, "mse": mse, "psnr": metrics.psnr(mse), "perplexity": metrics.perplexity(counts),
            "used_codes": int((counts > 0).sum()), "dead_codes": int((counts == 0).sum()), **bits}


@torch.no_grad()
def sample_sheet(model, per_class: int = 10, temperature: float = 1.0, seed: int = 0):
    """Decoded samples, one row per class (or `per_class` rows of an unconditional model) → (images, labels)."""
    names = model.config.get("class_names") or []
    rows = len(names) if names and model.prior.cfg.num_classes else per_class
    labels = torch.arange(rows).repeat_interleave(per_class) if names and model.prior.cfg.num_classes else None
    grids = model.sample(rows * per_class, labels=labels, temperature=temperature, seed=seed)
    return model.decode(grids), labels


@torch.no_grad()
def sample_accuracy(model, classifier, per_class: int = 50, temperature: float = 1.0, seed: int = 0,
                    steps: int | None = None, guidance: float | None = None) -> float:
    """Share of class-conditional samples that `classifier` reads as the class they were asked for.
    50 per class (500 for 10 classes) keeps the figure's standard error near one point. `steps` and
    `guidance`: a masked prior's parallel steps and classifier-free guidance (default: its own)."""
    labels = torch.arange(model.prior.cfg.num_classes).repeat_interleave(per_class)
    images = torch.cat([model.decode(model.sample(len(chunk), labels=chunk, temperature=temperature,
                                                  seed=seed + i, steps=steps, guidance=guidance))
                        for i, chunk in enumerate(labels.split(100))])
    return float((classifier.predict(images) == labels).float().mean())


def save_sheet(images: torch.Tensor, path, per_row: int = 10):
    save_image(make_grid(images, nrow=per_row, padding=2, pad_value=0.5), path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", nargs="?", help="the checkpoint to evaluate on its test split (or use --models)")
    ap.add_argument("--data-root", default=None, help="folder with the standard dataset files")
    ap.add_argument("--dataset", default=None,
                    help="mnist, fashion_mnist, cifar10 or a folder of images (default: the checkpoint's dataset)")
    ap.add_argument("--limit", type=int, default=None,
                    help="evaluate on the first N test images (with --models: pictures of the folder) only")
    ap.add_argument("--sheet", default=None, help="sample sheet PNG (default: beside the checkpoint)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--classifier", default=None,
                    help="a classifier file (vq_explorer.commands.classifier): measure sample accuracy")
    ap.add_argument("--per-class", type=int, default=50, help="class-conditional samples per class it reads")
    ap.add_argument("--no-store", action="store_true", help="do not write the figures into the checkpoint")
    evaluate_models.add_arguments(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(min(torch.get_num_threads(), 4))
    if args.models:
        raise SystemExit(evaluate_models.run(args))
    if not args.checkpoint:
        ap.error("name a checkpoint, or --models A B ... --images DIR")

    try:
        model = load(args.checkpoint)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from None
    cfg = model.config
    try:
        data = load_dataset(args.dataset or cfg["dataset"], args.data_root, image_size=cfg["image_size"][0],
                            channels=cfg["channels"])
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    x, y = data.test_x[: args.limit], data.test_y[: args.limit]
    t0 = time.time()
    figures = evaluate(model, x, y)
    cannot = []
    if model.prior is None:
        cannot.append("no prior in this checkpoint (a VQ-VAE from the codebook lab): no bits per image, no "
                      "sample sheet, no sample accuracy")
    elif not model.prior.exact_likelihood:
        cannot.append("a masked prior has no exact likelihood: no bits per image")
    sheet, labels = None, None
    if model.prior is not None:
        images, labels = sample_sheet(model, temperature=args.temperature)
        sheet = args.sheet or str(args.checkpoint).replace(".safetensors", "_samples.png")
        Path(sheet).parent.mkdir(parents=True, exist_ok=True)
        save_sheet(images, sheet)
    if args.classifier and labels is not None:
        from ..storage.checkpoint import load_classifier
        figures["sample_accuracy"] = sample_accuracy(model, load_classifier(args.classifier), args.per_class,
                                                     args.temperature)
        figures["sample_accuracy_n"] = args.per_class * len(labels.unique())
    figures["eval_seconds"] = round(time.time() - t0, 1)
    print(f"{args.checkpoint} on {len(x)} test images of {data.name}:")
    for k, v in figures.items():
        print(f"  {k:16s} {v:.5g}" if isinstance(v, float) else f"  {k:16s} {v}")
    if sheet:
        print(f"  sample sheet     {sheet}")
    for line in cannot:
        print(f"  not computed: {line}")
    if not args.no_store:
        update_metrics(args.checkpoint, {**model.metrics, **figures}, code_stats(model, x))


if __name__ == "__main__":
    main()
