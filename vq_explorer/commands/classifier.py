"""Train a classifier that judges samples (see vq_explorer.models.classifier):

    python -m vq_explorer.commands.classifier --dataset mnist --out tests/fixtures/mnist_classifier.safetensors
    python -m vq_explorer.commands.classifier --dataset cifar10 --epochs 14 \\
        --out tests/fixtures/cifar10_classifier.safetensors

Greyscale datasets train the small CNN with Adam for two epochs. CIFAR-10 trains the colour CNN the way the fast
CIFAR-10 recipes do: SGD with Nesterov momentum, batch 512, label smoothing, mirrored and shifted (±2 px)
images, a learning rate that warms up for two epochs and falls linearly to zero, bf16 autocast where the CPU
has it. The file is safetensors, its weights in float16 (it is a test fixture; accuracy is measured on the
loaded copy).
"""

import argparse
import time

import torch
import torch.nn.functional as F

from ..models.classifier import Classifier, ColourClassifier
from ..models.device import choose_device
from ..models.training import autocast, resolve_precision
from ..storage.checkpoint import load_classifier, machine, save_classifier
from ..storage.data import load_dataset, to_float


def shifted_and_mirrored(x: torch.Tensor, pad: int = 2) -> torch.Tensor:
    """Each image moved by up to `pad` pixels (reflected at the edges) and mirrored half of the time."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad,) * 4, mode="reflect")
    dy, dx = torch.randint(0, 2 * pad + 1, (2,)).tolist()   # one shift per batch: cheap, and enough over epochs
    out = padded[:, :, dy:dy + h, dx:dx + w]
    flip = torch.rand(n) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


def accuracy(model, x: torch.Tensor, y: torch.Tensor) -> float:
    return (model.predict(to_float(x)) == y).float().mean().item()


def train_greyscale(data, epochs: int) -> Classifier:
    model = Classifier(data.channels, len(data.class_names))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * (len(data.train_x) // 128 + 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(data.train_x)).split(128):
            loss = F.cross_entropy(model(to_float(data.train_x[idx])), data.train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}: test accuracy {accuracy(model, data.test_x, data.test_y):.4f}", flush=True)
    return model


def train_colour(data, epochs: int, batch: int = 512, lr: float = 0.2, warmup: int = 2) -> ColourClassifier:
    device = choose_device()
    model = ColourClassifier(data.channels, len(data.class_names)).to(device, memory_format=torch.channels_last)
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": rest, "weight_decay": 0}],
                          lr=lr, momentum=0.9, nesterov=True)
    per_epoch = -(-len(data.train_x) // batch)
    total = epochs * per_epoch
    warm = max(1, min(warmup * per_epoch, total // 2))   # short runs warm up for half their steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    precision = resolve_precision("auto", device)
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        for idx in torch.randperm(len(data.train_x)).split(batch):
            x = shifted_and_mirrored(to_float(data.train_x[idx])).to(device, memory_format=torch.channels_last)
            with autocast(device, precision):
                loss = F.cross_entropy(model(x), data.train_y[idx].to(device), label_smoothing=0.2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(model.cpu(), data.test_x, data.test_y)
        model.to(device)
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, test accuracy {acc:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    return model.cpu()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=None, help="default: 2 (greyscale), 14 (colour)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    try:
        data = load_dataset(args.dataset, args.data_root)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    t0 = time.time()
    colour = data.channels == 3
    epochs = args.epochs or (14 if colour else 2)
    model = train_colour(data, epochs) if colour else train_greyscale(data, epochs)
    record = {"dataset": args.dataset, "epochs": str(epochs), "train_minutes": f"{(time.time() - t0) / 60:.1f}",
              "machine": machine(choose_device(), 1)}
    save_classifier(model, args.out, record)
    acc = accuracy(load_classifier(args.out), data.test_x, data.test_y)   # the float16 copy that ships
    save_classifier(model, args.out, record | {"test_accuracy": f"{acc:.4f}"})
    print(f"{args.out}: test accuracy {acc:.4f} as saved, {record['train_minutes']} min of training")


if __name__ == "__main__":
    main()
