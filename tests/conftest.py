import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vq_explorer.models.config import MaskGITConfig, PriorConfig, RNNConfig, TransformerConfig, VQVAEConfig

torch.set_num_threads(2)
FIXTURES = Path(__file__).parent / "fixtures"
# Every Python the tests start (train.py, torchrun's workers, the rebuild's trainings) imports tests/hooks'
# sitecustomize first: the seams that VQE_TEST_* variables switch on live there, not in the product.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent / "hooks"),
                                                         os.environ.get("PYTHONPATH")]))


@pytest.fixture(autouse=True, scope="session")
def views_in_a_temporary_folder(tmp_path_factory):
    """A tokenizer's codebook views are kept on disk (storage/views.py): in tests, in a folder of their own,
    never the user's cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("VQE_VIEW_CACHE", str(tmp_path_factory.mktemp("views")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def mnist_1000():
    """The first 1,000 MNIST test images (uint8, N×1×28×28) and labels: tests need no dataset folder."""
    d = np.load(FIXTURES / "mnist_test_1000.npz")
    return torch.from_numpy(d["images"]), torch.from_numpy(d["labels"]).long()


@pytest.fixture(scope="session")
def cifar_500():
    """The first 500 CIFAR-10 test images (uint8, N×3×32×32) and labels."""
    d = np.load(FIXTURES / "cifar10_test_500.npz")
    return torch.from_numpy(d["images"]).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(d["labels"]).long()


# train.py arguments for a model that trains on 300 digits in seconds.
TINY = ["--in-channels", "1", "--image-size", "28", "--channels", "16", "--res-blocks", "1", "--num-codes", "32",
        "--code-dim", "8", "--prior-channels", "16", "--prior-layers", "3", "--batch-size", "32",
        "--examples", "10", "--threads", "1"]


# A small diffusers VQModel (two down and up blocks, one resnet each, groups of 8): the stroke window's and the
# kept latents' tests open it; add "mid_block_add_attention" to choose its mid-block.
SMALL_DIFFUSERS = {"down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
                   "block_out_channels": [16, 32], "layers_per_block": 1, "latent_channels": 4,
                   "num_vq_embeddings": 64, "norm_num_groups": 8, "vq_embed_dim": 4}


def load_benchmark(name: str):
    """A script of benchmarks/ (not a package) as a module, so tests can call its functions."""
    import importlib.util
    path = FIXTURES.parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_digit_folder(root, images, labels, n):
    """The first n digits as PNGs in one sub-folder per class: train.py's image-folder dataset."""
    for i in range(n):
        folder = root / str(int(labels[i]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i, 0].numpy()).save(folder / f"{i}.png")
    return root


@contextmanager
def said(expected: str, **params):
    """pytest.raises for a mistake the app words itself: a UserError, or the gr.Error a handler turns it into,
    named `expected` (with `params` among its figures). The sentence may be reworded; the code may not change."""
    with pytest.raises(Exception) as info:
        yield info
    assert getattr(info.value, "code", None) == expected, f"expected {expected!r}, got {info.value!r}"
    for k, v in params.items():
        assert info.value.params.get(k) == v, (k, info.value.params)


def words(status) -> str:
    """What a status tells the visitor (a handler's `ui.common.status` update): its text, which carries no markup
    for whoever watches the page."""
    text = status["value"]
    assert isinstance(text, str) and "<span" not in text and "class=" not in text, text
    return text


def states(status) -> set[str]:
    """The states a status reports, set on its component as classes: `vqe-done` → "done"."""
    assert all(c.startswith("vqe-") for c in status["elem_classes"]), status["elem_classes"]
    return {c.removeprefix("vqe-") for c in status["elem_classes"]}


def tiny_vq(**kw) -> VQVAEConfig:
    return VQVAEConfig(**{"channels": 16, "res_blocks": 1, "num_codes": 32, "code_dim": 8, **kw})


def tiny_prior(**kw) -> PriorConfig:
    return PriorConfig(**{"num_codes": 32, "channels": 16, "layers": 4, **kw})


def tiny_transformer(**kw) -> TransformerConfig:
    return TransformerConfig(**{"num_codes": 32, "dim": 16, "layers": 2, "heads": 2, "rows": 8, "cols": 8, **kw})


def tiny_maskgit(**kw) -> MaskGITConfig:
    return MaskGITConfig(**{"num_codes": 32, "dim": 16, "layers": 2, "heads": 2, "rows": 8, "cols": 8, **kw})


def tiny_rnn(**kw) -> RNNConfig:
    return RNNConfig(**{"num_codes": 32, "dim": 16, "hidden": 24, "layers": 2, "rows": 8, "cols": 8, **kw})


TINY_PRIORS = {"pixelcnn": tiny_prior, "transformer": tiny_transformer, "maskgit": tiny_maskgit, "rnn": tiny_rnn}
AUTOREGRESSIVE = ["pixelcnn", "transformer", "rnn"]


def make_tiny_model(classes=("a", "b", "c"), image_size=(12, 12), channels=1, downsample=4, prior="pixelcnn"):
    """An untrained but complete VQModel, as a checkpoint would hold it."""
    from vq_explorer.models.model import VQModel
    from vq_explorer.models.priors import build_prior
    from vq_explorer.models.vqvae import VQVAE
    from vq_explorer.storage.checkpoint import make_config

    torch.manual_seed(0)
    vq = tiny_vq(in_channels=channels, downsample=downsample, init="none")
    pr = TINY_PRIORS[prior](num_classes=len(classes) if classes else 0)
    config = make_config(vq, pr, "tiny", image_size, classes)
    examples = torch.randint(0, 256, (6, channels, *image_size), dtype=torch.uint8)
    return VQModel(VQVAE(vq).eval(), build_prior(pr).eval(), config, {"mse": 0.5}, examples,
                   torch.arange(6) % max(1, len(classes or [0])))


@pytest.fixture(scope="session")
def ckpt_dir(tmp_path_factory):
    """A checkpoints folder with one tiny 10-class 28×28 model, as the app would list it."""
    import vq_explorer as vqe
    folder = tmp_path_factory.mktemp("checkpoints")
    model = make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28))
    vqe.save(model, folder / "tiny.safetensors")
    return folder


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Where browser tests put their screenshots: $VQE_SCREENSHOTS (the README's), else a temporary folder."""
    d = Path(os.environ.get("VQE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def explorer():
    from vq_explorer import service
    return service


@pytest.fixture
def catalog(ckpt_dir):
    """The tiny model's folder, as the app is given it."""
    from vq_explorer.service import Catalog
    return Catalog(ckpt_dir)
