"""Priors over code grids, one module per family, all with the interface of `AutoregressivePrior`:
forward(idx, labels) → logits (B, K, h, w), log_prob_cells, log_prob, sample_steps, sample.

    pixelcnn     Gated PixelCNN: convolutions made causal by shifting (any grid size)
    transformer  GPT-style decoder over the grid in raster order, with a key/value cache for sampling
"""

from ..config import PriorConfig, TransformerConfig, prior_config_from_dict
from .autoregressive import AutoregressivePrior, SampleStep
from .pixelcnn import GatedPixelCNN
from .transformer import GridTransformer

FAMILIES = {"pixelcnn": GatedPixelCNN, "transformer": GridTransformer}


def build_prior(cfg) -> AutoregressivePrior:
    """An untrained prior from its config: a config dataclass, or a checkpoint's config["prior"] dict."""
    if isinstance(cfg, dict):
        cfg = prior_config_from_dict(cfg)
    return FAMILIES[cfg.type](cfg)


__all__ = ["AutoregressivePrior", "SampleStep", "GatedPixelCNN", "GridTransformer", "PriorConfig",
           "TransformerConfig", "build_prior", "FAMILIES"]
