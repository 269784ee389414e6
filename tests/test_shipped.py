"""Regression on the shipped checkpoints, against the thresholds recorded in the issues (1,000 test images of
the fixture, a small classifier shipped as a fixture: no dataset folder needed)."""

from pathlib import Path

import pytest
import torch

import vq_explorer as vqe
from vq_explorer.classifier import load_classifier
from vq_explorer.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT / "checkpoints" / "mnist.safetensors"
FIXTURES = Path(__file__).parent / "fixtures"

pytestmark = pytest.mark.skipif(not MNIST.exists(), reason="checkpoints/mnist.safetensors not trained yet")


@pytest.fixture(scope="module")
def mnist():
    return vqe.load(MNIST, device="cpu")


def test_mnist_config_is_as_promised(mnist):
    c = mnist.config
    assert c["grid"] == [7, 7] and c["num_codes"] >= 256 and c["class_names"] == [str(i) for i in range(10)]
    assert mnist.prior.cfg.num_classes == 10
    assert MNIST.stat().st_size < 10e6
    assert mnist.examples is not None and len(mnist.examples) >= 30 and "usage" in mnist.stats


def test_mnist_reconstruction_on_1000_test_images(mnist, mnist_1000):
    x, y = mnist_1000
    m = evaluate(mnist, x, y)
    assert m["mse"] <= 0.003, m
    assert m["psnr"] >= 25, m
    assert m["used_codes"] >= 150, m     # 49,000 cells of 1,000 images cannot use every code


def test_mnist_samples_are_their_class(mnist):
    clf = load_classifier(FIXTURES / "mnist_classifier.safetensors")
    labels = torch.arange(10).repeat_interleave(10)
    images = mnist.decode(mnist.sample(100, labels=labels, seed=0))
    accuracy = float((clf.predict(images) == labels).float().mean())
    assert accuracy >= 0.80, accuracy   # measured 0.86 at seed 0 (0.88 over 500 samples)
