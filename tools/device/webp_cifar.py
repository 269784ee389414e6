"""CIFAR-10 as lossless WebP mosaics, and back: 55% of the bytes, so the training set crosses to a lent GPU
machine (64 MiB per call, with the repository) in two calls instead of four. Every image is checked to
come back bit for bit.

    python tools/device/webp_cifar.py pack   .dev/p1 .dev/p2    # test[:2000], train_1-2 → p1; train_3-5 → p2
    python tools/device/webp_cifar.py unpack SRC DST            # *.webp → the npz files vq_explorer/data.py reads

Only the first 2,000 test images travel: training looks at no others (test figures during training use the
first 2,000); the full-split evaluation runs afterwards where the whole dataset is.
"""

import glob
import io
import os
import sys

import numpy as np
from PIL import Image

SOURCE = os.environ.get("VQE_DATA_ROOT", os.path.join(os.path.dirname(__file__), "../../../shared/datasets"))


def mosaic(x: np.ndarray) -> np.ndarray:
    """(100·r, 32, 32, 3) → one (32·r, 3200, 3) image, 100 images per row."""
    r = len(x) // 100
    return x.reshape(r, 100, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(r * 32, 3200, 3)


def unmosaic(m: np.ndarray) -> np.ndarray:
    r = m.shape[0] // 32
    return m.reshape(r, 32, 100, 32, 3).transpose(0, 2, 1, 3, 4).reshape(r * 100, 32, 32, 3)


def pack_one(name: str, images: np.ndarray, labels: np.ndarray, out: str):
    buf = io.BytesIO()
    Image.fromarray(mosaic(images)).save(buf, "WEBP", lossless=True, quality=100, method=6)
    back = unmosaic(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    assert np.array_equal(back, images), f"{name}: WebP did not round-trip"
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/{name}.webp", "wb") as f:
        f.write(buf.getvalue())
    np.save(f"{out}/{name}_labels.npy", labels)
    print(f"{name}: {len(buf.getvalue()) / 1e6:.1f} MB", flush=True)


def pack(first: str, second: str):
    src = os.path.join(SOURCE, "cifar10")
    test = np.load(f"{src}/test.npz")
    pack_one("test", test["images"][:2000], test["labels"][:2000], first)
    for i in range(1, 6):
        part = np.load(f"{src}/train_{i}.npz")
        pack_one(f"train_{i}", part["images"], part["labels"], first if i <= 2 else second)


def unpack(src: str, dst: str):
    os.makedirs(dst, exist_ok=True)
    for path in sorted(glob.glob(f"{src}/*.webp")):
        name = os.path.basename(path)[:-5]
        if not os.path.exists(f"{dst}/{name}.npz"):
            images = unmosaic(np.asarray(Image.open(path).convert("RGB")))
            np.savez(f"{dst}/{name}.npz", images=images, labels=np.load(f"{src}/{name}_labels.npy"))
            print(name, images.shape, flush=True)


if __name__ == "__main__":
    {"pack": pack, "unpack": unpack}[sys.argv[1]](*sys.argv[2:])
