"""A small CNN classifier, used only to measure whether class-conditional samples show their class.

    python -m vq_explorer.models.classifier --dataset mnist --out tests/fixtures/mnist_classifier.safetensors
"""

import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..storage.checkpoint import atomic_save_file, raw_metadata, read_tensors
from ..storage.data import load_dataset, to_float


class Classifier(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.config = {"in_channels": in_channels, "num_classes": num_classes, "width": width}
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Dropout(0.3),
            nn.Linear(2 * w * 49, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, x):
        return self.net(x - 0.5)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.eval()
        return torch.cat([self(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])


def load_classifier(path) -> Classifier:
    meta = raw_metadata(path)
    if meta.get("format") != "vq-explorer-classifier/1":
        raise ValueError(f"{path}: not a vq-explorer classifier file")
    model = Classifier(**json.loads(meta["config"]))
    model.load_state_dict(read_tensors(path))
    return model.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    try:
        data = load_dataset(args.dataset, args.data_root)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    model = Classifier(data.channels, len(data.class_names))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = args.epochs * (len(data.train_x) // 128 + 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    for epoch in range(args.epochs):
        model.train()
        for idx in torch.randperm(len(data.train_x)).split(128):
            loss = F.cross_entropy(model(to_float(data.train_x[idx])), data.train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = (model.predict(to_float(data.test_x)) == data.test_y).float().mean().item()
        print(f"epoch {epoch + 1}: test accuracy {acc:.4f}")
    atomic_save_file(model.state_dict(), args.out, {"format": "vq-explorer-classifier/1",
                                                    "config": json.dumps(model.config),
                                                    "test_accuracy": f"{acc:.4f}", "dataset": args.dataset})


if __name__ == "__main__":
    main()
