"""The training loop that train.py and the codebook lab share: cosine learning rate, one optimiser step per
batch, a stop on a non-finite loss. What differs around it stays with the caller: train.py adds epochs, saving,
resume and torchrun; the lab adds a time limit and live pictures."""

import math
import time
from collections.abc import Callable, Iterable, Iterator

import torch


def cosine_lr(base_lr: float, progress: float) -> float:
    """From base_lr at the start to 0 at progress 1."""
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def steps(opt: torch.optim.Optimizer, step_fn: Callable, batches: Iterable, base_lr: float,
          progress: Callable[[], float], first_step: int = 0, nan_at: int | None = None) -> Iterator[dict]:
    """For each batch: the learning rate for `progress()`, `step_fn(batch, step) → (loss, stats)`, backward, step.
    Yields {step (counted after it), loss, lr, seconds, **stats}; the caller decides when to stop (it simply
    stops iterating). `nan_at`: poison that step's loss (tests of the non-finite stop)."""
    step = first_step
    for batch in batches:
        t0 = time.time()
        lr = cosine_lr(base_lr, progress())
        for g in opt.param_groups:
            g["lr"] = lr
        loss, stats = step_fn(batch, step)
        if nan_at is not None and step == nan_at:
            loss = loss * float("nan")
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        yield {"step": step, "loss": loss.item(), "lr": lr, "seconds": time.time() - t0, **stats}


def vqvae_step(net, quantizer, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """One VQ-VAE batch: the loss to minimise, and what the quantizer reports after it."""
    out = net(x)
    return out.loss, {"mse": out.recon_loss.item(), "perplexity": quantizer.perplexity(),
                      "dead": quantizer.dead_codes()}
