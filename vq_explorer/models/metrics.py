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


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features (N, D): |μa − μb|² + Tr(Σa + Σb −
    2(Σa^½ Σb Σa^½)^½), the FID formula in whatever feature space is given. A sample set that repeats one image
    per class has a small spread and is far from the test images' even when every image is read as its class;
    that is what it is measured for. Square roots of the symmetric PSD matrices by eigendecomposition, float64."""
    a, b = a.double(), b.double()
    mu = a.mean(0) - b.mean(0)
    sa, sb = torch.cov(a.T), torch.cov(b.T)

    def sqrt_psd(m):
        vals, vecs = torch.linalg.eigh((m + m.T) / 2)
        return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T

    root = sqrt_psd(sa)
    cross = torch.trace(sqrt_psd(root @ sb @ root))
    return float(mu @ mu + torch.trace(sa) + torch.trace(sb) - 2 * cross)
