"""One encoder pass per picture: Reconstruct, the quantization panel and the painter all start from the encoder's
latents of the same upload, which a large tokenizer takes seconds to compute. The last few are kept per model,
found by the picture's bytes, and the codes are taken from them by the tokenizer's own rule."""

import hashlib
import threading
from collections import OrderedDict

import torch

from .memo import per_model

KEPT = 8   # pictures per model: the shipped examples a tokenizer's usage is counted over, and a few uploads


@per_model
def _recent(model) -> tuple[OrderedDict, threading.Lock]:
    return OrderedDict(), threading.Lock()


def _reusable(model) -> bool:
    """Whether the codes are the quantizer's rule applied to `encode_continuous` (this project's VQ-VAE and a
    diffusers VQModel); a wrapped model's own `encode` may return codes by a rule of its own."""
    return getattr(model.vqvae, "kind", "vqvae") != "python"


@torch.no_grad()
def latents(model, x: torch.Tensor) -> torch.Tensor:
    """The encoder's output (B, d, h, w) for images x (B, C, H, W) in [0, 1], laid out and computed (float32) as
    `model.encode` computes it; from the kept ones when these very pixels were encoded lately."""
    x = model.encoder_input(x)
    key = hashlib.sha1(x.cpu().numpy().tobytes() + str(tuple(x.shape)).encode()).digest()
    kept, lock = _recent(model)
    with lock:
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
    with torch.autocast(model.device.type, enabled=False):
        z = model.vqvae.encode_continuous(x)
    with lock:
        kept[key] = z
        while len(kept) > KEPT:
            kept.popitem(last=False)
    return z


def codes(model, x: torch.Tensor) -> torch.Tensor:
    """`model.encode(x)` (B, h, w), from the kept latents where the model's codes are its quantizer's rule."""
    if not _reusable(model):
        return model.encode(x)
    return model.vqvae.codes(latents(model, x).float()).cpu()
