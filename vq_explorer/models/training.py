"""The training loop that train.py and the codebook lab share: the learning rate from the caller's progress on a
cosine (train.py's budget; the lab, which has no end to anneal towards, passes no progress and keeps the base
rate), one optimiser step (`take_step`, the only one), a stop on a non-finite loss, and the precision the
networks run in. What
differs around it stays with the caller: train.py adds epochs, saving, resume and torchrun; the lab adds a time
limit and live pictures."""

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_bf16() -> bool:
    """bfloat16 arithmetic in hardware (AVX512-BF16 or AMX). oneDNN also accepts plain AVX-512, where it emulates
    bf16 and autocast makes training slower, so the CPU's own flags decide where Linux lists them."""
    info = Path("/proc/cpuinfo")
    flags = next((set(line.split(":", 1)[1].split()) for line in info.read_text().splitlines()
                  if line.startswith("flags")), None) if info.exists() else None
    if flags is not None:
        return bool(flags & {"avx512_bf16", "amx_bf16"})
    return bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """"auto" → "bf16" on CUDA and on a CPU with bf16 hardware, else "fp32". "bf16" where the hardware lacks it
    is refused with a reason rather than run at a fraction of fp32's speed."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    capable = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_bf16()
    if precision == "auto":
        return "bf16" if capable else "fp32"
    if precision == "bf16" and not capable:
        raise ValueError(f"--precision bf16: this {device.type.upper()} has no bfloat16 arithmetic "
                         "(a CPU needs AVX512-BF16 or AMX); use --precision fp32 or auto")
    return precision


def autocast(device: torch.device | str, precision: str):
    """The networks' forward passes in bfloat16 where `precision` is "bf16"; the quantizer and the losses cast
    back to float32 themselves (distances, EMA sums and argmins need the mantissa)."""
    device = torch.device(device)
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def cosine_lr(base_lr: float, progress: float) -> float:
    """From base_lr at the start to 0 at progress 1."""
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def take_step(opt: torch.optim.Optimizer, step_fn: Callable, batch, step: int,
              precision: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
              lr: float | None = None) -> tuple[float, dict, float]:
    """One optimiser step, the only one there is: train.py's stages and the codebook lab both take their steps
    here, so a change to how a step is taken reaches both. `lr`, when given, is set first (train.py's schedule;
    the lab keeps the optimizer's own); `step_fn(batch, step) → (loss, stats)` runs inside `precision()` (an
    autocast context, see `autocast`), backward outside it. A non-finite loss raises FloatingPointError before
    the weights are touched, so the last saved state is the last good one. Returns (loss, stats, seconds)."""
    t0 = time.time()
    if lr is not None:
        for group in opt.param_groups:
            group["lr"] = lr
    with precision():
        loss, stats = step_fn(batch, step)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss became {loss.item()} at step {step}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item(), stats, time.time() - t0


def steps(opt: torch.optim.Optimizer, step_fn: Callable, batches: Iterable,
          precision: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> Iterator[dict]:
    """The codebook lab's endless training, one `take_step` per batch at the optimizer's own learning rate.
    Yields {step (counted after it), loss, seconds, **stats}; the caller stops iterating when it is done."""
    for step, batch in enumerate(batches):
        loss, stats, seconds = take_step(opt, step_fn, batch, step, precision)
        yield {"step": step + 1, "loss": loss, "seconds": seconds, **stats}


def vqvae_step(net, quantizer, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """One VQ-VAE batch: the loss to minimise, and what the quantizer reports after it."""
    out = net(x)
    return out.loss, {"mse": out.recon_loss.item(), "perplexity": quantizer.perplexity(),
                      "dead": quantizer.dead_codes()}
