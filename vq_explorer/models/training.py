"""The training loop that train.py and the codebook lab share: the learning rate from the caller's progress on a
cosine (train.py's budget; the lab, which has no end to anneal towards, passes no progress and keeps the base
rate), one optimiser step per batch, a stop on a non-finite loss, and the precision the networks run in. What
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


def steps(opt: torch.optim.Optimizer, step_fn: Callable, batches: Iterable, base_lr: float,
          progress: Callable[[], float], first_step: int = 0, nan_at: int | None = None,
          precision: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> Iterator[dict]:
    """For each batch: the learning rate for `progress()` (a LambdaLR on the cosine of the caller's progress,
    which may be steps or minutes, so it is read, not counted), `step_fn(batch, step) → (loss, stats)` inside
    `precision()` (an autocast context, see `autocast`), backward outside it, step.
    Yields {step (counted after it), loss, lr, seconds, **stats}; the caller decides when to stop (it simply
    stops iterating). `nan_at`: poison that step's loss (tests of the non-finite stop)."""
    step, schedule = first_step, None
    for g in opt.param_groups:
        g.setdefault("initial_lr", base_lr)   # the rate the schedule scales
    for batch in batches:
        t0 = time.time()
        if schedule is None:   # built at the first batch, so it reads the caller's progress then
            schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: cosine_lr(1.0, progress()))
        else:
            schedule.step()
        lr = opt.param_groups[0]["lr"]
        with precision():
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
