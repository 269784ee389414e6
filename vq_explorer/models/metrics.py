"""Evaluation figures: reconstruction error, codebook usage, prior likelihood."""

import math

import torch


def mse(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error on the 0..1 scale."""
    return float((x.float() - y.float()).pow(2).mean())


def psnr(mse_value: float) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]."""
    return float("inf") if mse_value <= 0 else 10 * math.log10(1.0 / mse_value)


def code_counts(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    return torch.bincount(indices.reshape(-1).long().cpu(), minlength=num_codes)


def perplexity(counts: torch.Tensor) -> float:
    """exp(entropy) of the usage distribution; count over a whole pass of the data, not one batch."""
    p = counts.double() / counts.sum().clamp_min(1)
    return float(torch.exp(-(p * torch.log(p.clamp_min(1e-300))).sum()))


def bits(nats: float) -> float:
    return nats / math.log(2)
