"""The codebook lab: train a small VQ-VAE for up to a minute, one or two quantizer variants side by side, and
watch what its codebook does — which codes get used, which die, where the code vectors move. No Gradio: the
Lab tab streams what `train` yields, and the summary is measured on the subset's test images.

The data are small subsets of MNIST and Fashion-MNIST kept in the package (lab_data/, written by
tools/make_lab_data.py), so a Space trains with no download."""

import itertools
import json
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..models import metrics, training
from ..models.config import QUANTIZERS, VQVAEConfig, quantizer_variant
from ..models.model import VQModel
from ..models.vqvae import VQVAE
from ..storage.checkpoint import make_config, save
from ..storage.data import FASHION_CLASSES, MNIST_CLASSES, to_float
from .codebook import pca_2d
from .errors import UserError

LAB_DATA = Path(__file__).with_name("lab_data")
SUBSET = (5000, 1000)             # training and test images per dataset
DATASETS = {"mnist": MNIST_CLASSES, "fashion_mnist": FASHION_CLASSES}
NUM_CODES = (16, 32, 64, 128, 256, 512, 1024)
MAX_SECONDS = 60
VARIANTS = list(QUANTIZERS)     # the quantizer recipes a visitor may race
RUNNING = threading.Lock()                    # one lab run at a time on this server
PLACES = threading.BoundedSemaphore(3)        # the run and two waiting for it; more are told the lab is busy
CODE_DIMS = (2, 64)
SHOWN = 8                          # test images shown reconstructed as training goes
BATCH, LR = 64, 2e-3


class LabError(UserError):
    """A bad lab setting (the code says which, the params what is allowed), or a run that diverged."""


def _check_dataset(dataset):
    if not isinstance(dataset, str) or dataset not in DATASETS:
        raise LabError("lab_dataset", choices=list(DATASETS), value=str(dataset)[:40])


@lru_cache(maxsize=2)
def subset(dataset: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train, test) uint8 (N, 1, 28, 28) and the test labels."""
    _check_dataset(dataset)
    with np.load(LAB_DATA / f"{dataset}.npz", allow_pickle=False) as d:
        return (torch.from_numpy(d["train"]), torch.from_numpy(d["test"]),
                torch.from_numpy(d["test_labels"]).long())


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check(dataset, variant, num_codes, code_dim, seconds, seed=0):
    _check_dataset(dataset)
    if not isinstance(variant, str) or variant not in QUANTIZERS:
        raise LabError("lab_variant", choices=list(QUANTIZERS), value=str(variant)[:40])
    if not _number(num_codes) or num_codes not in NUM_CODES:
        raise LabError("lab_codes", choices=list(NUM_CODES))
    if not _number(code_dim) or not CODE_DIMS[0] <= code_dim <= CODE_DIMS[1]:
        raise LabError("lab_code_dim", low=CODE_DIMS[0], high=CODE_DIMS[1])
    if not _number(seconds) or not 1 <= seconds <= MAX_SECONDS:
        raise LabError("lab_seconds", limit=MAX_SECONDS)
    if not _number(seed) or not 0 <= seed < 2**31:
        raise LabError("lab_seed")


@dataclass(eq=False)
class Run:
    """One variant in training: its model, the steps still to take, and what it did so far."""
    dataset: str
    variant: str
    model: VQVAE
    steps: object                                        # training.steps(...), an endless iterator
    history: dict = field(default_factory=lambda: {k: [] for k in ("step", "loss", "mse", "perplexity",
                                                                      "used", "dead")})

    @property
    def step(self) -> int:
        return self.history["step"][-1] if self.history["step"] else 0


def start(dataset: str, variant: str, num_codes: int = 256, code_dim: int = 16, seed: int = 0) -> Run:
    """A fresh small VQ-VAE (32 channels, one residual block, 7×7 grid) with the variant's quantizer."""
    check(dataset, variant, num_codes, code_dim, 1, seed)
    torch.manual_seed(int(seed))
    cfg = quantizer_variant(VQVAEConfig(in_channels=1, channels=32, res_blocks=1, downsample=4,
                                        num_codes=int(num_codes), code_dim=int(code_dim), dead_after=10), variant)
    model = VQVAE(cfg).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    train = to_float(subset(dataset)[0])
    g = torch.Generator().manual_seed(int(seed))            # both variants of a comparison see the same batches
    batches = (train[torch.randint(0, len(train), (BATCH,), generator=g)] for _ in itertools.count())

    def step_fn(x, step):
        loss, stats = training.vqvae_step(model, model.quantizer, x)
        return loss, {**stats, "used": int((model.quantizer.usage > 0).sum())}

    return Run(dataset, variant, model, training.steps(opt, step_fn, batches))


def train(runs: list[Run], seconds: float, every: float = 0.5, max_steps: int | None = None):
    """Steps the runs in turn (equal steps each) until `seconds` pass (or each run has taken `max_steps`); yields
    every `every` seconds or more — at least three times as long as the caller spent on the last picture, so
    training keeps most of the time — and at the end. Stopping early is just not asking for more."""
    deadline = time.time() + min(float(seconds), MAX_SECONDS)
    shown, wait = time.time(), every
    while time.time() < deadline and (max_steps is None or runs[0].step < max_steps):
        for run in runs:
            try:
                s = next(run.steps)
            except FloatingPointError:
                raise LabError("lab_diverged", variant=run.variant, step=run.step) from None
            for k in run.history:
                run.history[k].append(s[k])
        if time.time() - shown >= wait:
            t = time.time()
            yield runs
            wait, shown = max(every, 3 * (time.time() - t)), time.time()
    yield runs


@dataclass
class Frame:
    """What the Lab shows of one run at a moment, measured on the subset's test images."""
    usage: torch.Tensor          # (K,) codes' counts over the test images
    codes_xy: torch.Tensor       # (K, 2) code vectors on the map
    outputs_xy: torch.Tensor     # (n, 2) encoder outputs on the same map
    originals: torch.Tensor      # (SHOWN, 1, 28, 28)
    recons: torch.Tensor         # (SHOWN, 1, 28, 28)
    mse: float

    @property
    def perplexity(self) -> float:
        return metrics.perplexity(self.usage)


@torch.no_grad()
def frame(run: Run, images: int = 128, outputs: int = 300) -> Frame:
    """Live frames use the first 128 test images (cheap enough to show often); the summary all of them."""
    model = run.model.eval()
    test = to_float(subset(run.dataset)[1][:images])
    z = model.encode_continuous(test).permute(0, 2, 3, 1)
    flat = z.reshape(-1, z.shape[-1])
    idx = model.quantizer.indices(flat)
    recon = model.decode(idx.view(z.shape[:3]), test.shape[-2:])
    codebook = model.quantizer.codebook.detach()
    picked = flat[torch.randperm(len(flat), generator=torch.Generator().manual_seed(0))[:outputs]]
    xy = pca_2d(torch.cat([codebook, picked]))     # one map for both, so the codes are seen chasing the outputs
    model.train()
    return Frame(metrics.code_counts(idx, model.quantizer.num_codes), xy[: len(codebook)], xy[len(codebook):],
                 test[:SHOWN], recon[:SHOWN], metrics.mse(recon, test))


@contextmanager
def seat():
    """A place in the lab: one run at a time on this server, two more waiting for it, and any further request
    refused at once (LabError "lab_busy"). Requests never wait in Gradio's queue, which every tab shares. A run
    streamed from inside `with seat():` gives its place back when its generator is closed (Stop)."""
    if not PLACES.acquire(blocking=False):
        raise LabError("lab_busy")
    try:
        if not RUNNING.acquire(timeout=2 * MAX_SECONDS + 30):
            raise LabError("lab_busy")
        try:
            yield
        finally:
            RUNNING.release()
    finally:
        PLACES.release()


def save_model(model: VQModel, path) -> None:
    """A lab model as a checkpoint file anyone can open (no prior), for the tab's download."""
    save(model, path)


def summary(run: Run, f: Frame | None = None) -> dict:
    """The run's end state on the subset's test images (not one batch)."""
    f = f or frame(run, SUBSET[1])
    return {"variant": run.variant, "steps": run.step, "mse": round(f.mse, 5),
            "perplexity": round(metrics.perplexity(f.usage), 2), "used_codes": int((f.usage > 0).sum()),
            "dead_codes": int((f.usage == 0).sum())}


def as_model(run: Run, f: Frame | None = None, examples: int = 40) -> VQModel:
    """The trained VQ-VAE as a VQModel without a prior: what Reconstruct, Paint codes and Codebook open. Frozen:
    no gradients kept, and no training-mode pass can move its codebook any more. `f`: its frame on all the test
    images, when the caller has it already."""
    _, test, labels = subset(run.dataset)
    f = f or frame(run, SUBSET[1])
    vqvae = run.model.eval().requires_grad_(False)
    for p in vqvae.parameters():
        p.grad = None
    config = make_config(vqvae.cfg, None, run.dataset, tuple(test.shape[-2:]), DATASETS[run.dataset],
                         lab={"variant": run.variant, "steps": run.step, "subset": list(SUBSET)})
    figures = {**summary(run, f), "test_images": SUBSET[1]}
    return VQModel(vqvae, None, config, figures, test[:examples].clone(), labels[:examples].clone(),
                   {"usage": f.usage})


# --- a recorded race: what the tab shows before the visitor trains one ------------------------------------
RECORDED = LAB_DATA / "recorded_race.safetensors"


@dataclass
class Recorded:
    """A finished run as the Lab shows it (its name, step count and curves), without its model."""
    variant: str
    step: int
    history: dict


def save_race(path, runs: list[Run], frames: list[Frame], result: dict, seconds: float):
    """The runs' curves and final frames in one file (tools/record_lab_race.py writes the shipped one)."""
    tensors = {}
    for i, (r, f) in enumerate(zip(runs, frames, strict=True)):
        tensors |= {f"run{i}.history.{k}": torch.tensor(v, dtype=torch.float32) for k, v in r.history.items()}
        tensors |= {f"run{i}.{k}": getattr(f, k).contiguous() for k in ("usage", "codes_xy", "outputs_xy",
                                                                        "originals", "recons")}
    meta = {"variants": json.dumps([r.variant for r in runs]), "steps": json.dumps([r.step for r in runs]),
            "mse": json.dumps([f.mse for f in frames]), "result": json.dumps(result), "seconds": str(seconds)}
    save_file(tensors, str(path), meta)


def load_race(path=RECORDED) -> tuple[list[Recorded], list[Frame], dict, float]:
    """(runs, frames, summary, seconds) of a recorded race."""
    with safe_open(str(path), "pt") as f:
        meta, t = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    runs, frames = [], []
    for i, (variant, steps, mse) in enumerate(zip(*(json.loads(meta[k]) for k in ("variants", "steps", "mse")),
                                                  strict=True)):
        prefix = f"run{i}.history."
        history = {k[len(prefix):]: v.tolist() for k, v in t.items() if k.startswith(prefix)}
        runs.append(Recorded(variant, steps, history))
        frames.append(Frame(*(t[f"run{i}.{k}"] for k in ("usage", "codes_xy", "outputs_xy", "originals",
                                                         "recons")), mse))
    return runs, frames, json.loads(meta["result"]), float(meta["seconds"])
