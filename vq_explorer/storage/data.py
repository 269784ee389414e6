"""Dataset registry. Every dataset here fits in memory, so each loads once into uint8 tensors (N, C, H, W).

Standard datasets are read from a data folder holding the official files: `--data-root`, else the environment
variable VQE_DATA_ROOT, else `data/` in the current directory; where they are missing, torchvision downloads them
there. A folder of images works too (sub-folders are classes).
"""

import glob
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .images import IMAGE_SUFFIXES

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DATASETS = ("mnist", "fashion_mnist", "cifar10")


@dataclass
class Data:
    name: str
    train_x: torch.Tensor   # uint8 (N, C, H, W)
    train_y: torch.Tensor   # int64 (N,)
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: list[str] | None

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.train_x.shape[-2:])

    @property
    def channels(self) -> int:
        return self.train_x.shape[1]


def default_root() -> Path:
    """$VQE_DATA_ROOT, else data/ in the current directory: never a place derived from where the package sits."""
    return Path(os.environ.get("VQE_DATA_ROOT") or "data")


def _read_idx(path: Path) -> np.ndarray:
    """The IDX format of MNIST: big-endian dims after a 4-byte magic whose last byte is the rank."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    rank = raw[3]
    dims = np.frombuffer(raw, ">i4", count=rank, offset=4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * rank).reshape(dims).copy()


def _download(tv_class, folder: Path, name: str) -> tuple:
    """The train and test splits through torchvision, which downloads what the folder lacks. Offline, or behind
    a proxy, that fails deep inside urllib; the user needs to hear where the files were looked for and how to
    point at a copy instead."""
    try:
        return tuple(tv_class(folder, train=t, download=True) for t in (True, False))
    except (OSError, RuntimeError) as e:
        reason = " ".join(str(e).split())   # torchvision's message spans lines
        raise ValueError(f"{name} is not in {folder} and could not be downloaded ({reason}); put its files "
                         "there, or name the folder that holds them with --data-root or $VQE_DATA_ROOT") from None


def _mnist_like(folder: Path, name: str, tv_class) -> tuple:
    files = [folder / f"{p}-{k}-idx{r}-ubyte.gz" for p in ("train", "t10k") for k, r in (("images", 3),
                                                                                          ("labels", 1))]
    if all(f.exists() for f in files):
        xtr, ytr, xte, yte = (_read_idx(f) for f in files)
        return xtr[:, None], ytr, xte[:, None], yte
    train, test = _download(tv_class, folder, name)
    return train.data.numpy()[:, None], train.targets.numpy(), test.data.numpy()[:, None], test.targets.numpy()


def _cifar10(folder: Path) -> tuple:
    parts = sorted(glob.glob(str(folder / "train_*.npz")))
    if parts and (folder / "test.npz").exists():
        train = [np.load(p) for p in parts]
        test = np.load(folder / "test.npz")
        xtr = np.concatenate([p["images"] for p in train]).transpose(0, 3, 1, 2)
        ytr = np.concatenate([p["labels"] for p in train])
        return xtr, ytr, test["images"].transpose(0, 3, 1, 2), test["labels"]
    from torchvision.datasets import CIFAR10
    train, test = _download(CIFAR10, folder, "cifar10")
    return (train.data.transpose(0, 3, 1, 2), np.array(train.targets), test.data.transpose(0, 3, 1, 2),
            np.array(test.targets))


def _image_folder(folder: Path, image_size: int, channels: int, test_fraction: float = 0.1) -> tuple:
    """Every image under `folder`, resized, a fixed 10% as the test split. Sub-folders are classes, read by
    torchvision's ImageFolder; a folder of loose images (no sub-folders) is one unnamed class."""
    from PIL import Image
    from torchvision.datasets import ImageFolder

    mode = "L" if channels == 1 else "RGB"

    def read(path) -> np.ndarray:
        with Image.open(path) as im:
            small = im.convert(mode).resize((image_size, image_size), Image.BICUBIC)
        return np.asarray(small).reshape(image_size, image_size, channels).transpose(2, 0, 1)

    def is_image(path) -> bool:
        return Path(path).suffix.lower() in IMAGE_SUFFIXES

    none = f"{folder}: no images found ({', '.join(sorted(IMAGE_SUFFIXES))})"
    if any(p.is_dir() for p in folder.iterdir()):
        try:
            found = ImageFolder(folder, is_valid_file=is_image)   # finds, sorts and labels the files
        except FileNotFoundError as e:   # a class folder without images: say which
            raise ValueError(f"{none}: {e}") from None
        samples, classes = found.samples, found.classes
    else:
        samples, classes = [(str(p), 0) for p in sorted(folder.iterdir()) if is_image(p)], None
    if not samples:
        raise ValueError(none)
    x = np.stack([read(path) for path, _ in samples])
    y = np.array([target for _, target in samples])
    order = np.random.default_rng(0).permutation(len(samples))
    n_test = max(1, int(len(samples) * test_fraction))
    te, tr = order[:n_test], order[n_test:]
    return x[tr], y[tr], x[te], y[te], classes


def load_dataset(name: str, root: str | Path | None = None, image_size: int = 32, channels: int = 1) -> Data:
    """`name` is mnist, fashion_mnist, cifar10, or a path to a folder of images."""
    root = Path(root) if root else default_root()
    if name in ("mnist", "fashion_mnist"):
        from torchvision.datasets import MNIST, FashionMNIST
        arrays = _mnist_like(root / name, name, MNIST if name == "mnist" else FashionMNIST)
        classes = MNIST_CLASSES if name == "mnist" else FASHION_CLASSES
    elif name == "cifar10":
        arrays, classes = _cifar10(root / "cifar10"), CIFAR_CLASSES
    elif Path(name).is_dir():
        *arrays, classes = _image_folder(Path(name), image_size, channels)
    else:
        raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(DATASETS)} or a folder of images")
    xtr, ytr, xte, yte = (torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)
    return Data(Path(name).name if Path(name).is_dir() else name, xtr.to(torch.uint8), ytr.long(),
                xte.to(torch.uint8), yte.long(), classes)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images → float32 in [0, 1]."""
    return x.float().div_(255)
