"""Classifiers that judge samples: does a class-conditional sample show the class it was asked for?

Two sizes. `Classifier` reads 28×28 greyscale digits and clothes (a minute's training is enough there); colour
32×32 CIFAR-10 needs a real convolutional network to read ≥ 90% of the test set, so `ColourClassifier` is a
small VGG-like net in the style of the fast CIFAR-10 training recipes (three conv-pool-conv blocks with batch
norm). Both are kept apart from the VQ-VAE they judge: they are trained on the dataset's images, never on
reconstructions or samples. Training and files: vq_explorer.commands.classifier.
"""

import torch
import torch.nn as nn


class Classifier(nn.Module):
    """Two conv layers and an MLP: 99% on MNIST, 90% on Fashion-MNIST."""

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

    def features(self, x) -> torch.Tensor:
        """The penultimate layer: the space a Fréchet distance between samples and test images is measured in."""
        return self.net[:-1](x - 0.5)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.eval()
        return torch.cat([self(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """conv → pool → BN → GELU → conv → BN → GELU: pooling after the first conv quarters the rest's cost."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c_out), nn.GELU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU())


class ColourClassifier(nn.Module):
    """For 32×32 colour images: a 2×2 stem, three blocks (32 → 16 → 8 → 4 px), max-pool, one linear layer.
    Reads an image and its mirror image and averages the two (mirroring never changes a CIFAR-10 class)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, widths: tuple = (64, 256, 256)):
        super().__init__()
        self.config = {"arch": "colour", "in_channels": in_channels, "num_classes": num_classes,
                       "widths": list(widths)}
        w1, w2, w3 = widths
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 24, 2, padding=1), nn.GELU(),
            _block(24, w1), _block(w1, w2), _block(w2, w3), nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(w3, num_classes, bias=False)

    def forward(self, x):
        return self.head(self.body((x - 0.5) * 4)) / 8   # a small output scale: logits grow slowly, as they should

    def features(self, x) -> torch.Tensor:
        return self.body((x - 0.5) * 4)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.eval()
        out = []
        for i in range(0, len(x), 500):
            part = x[i:i + 500]
            out.append((self(part) + self(part.flip(-1))).argmax(1))
        return torch.cat(out)


def build_classifier(config: dict) -> nn.Module:
    """The classifier a file's config describes (files without "arch" hold the small greyscale one)."""
    config = dict(config)
    if config.pop("arch", None) == "colour":
        return ColourClassifier(config["in_channels"], config["num_classes"], tuple(config["widths"]))
    return Classifier(**config)
