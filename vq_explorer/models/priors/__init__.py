"""Priors over code grids, one module per family, all with the interface of `Prior`: forward(idx, labels) →
logits (B, K, h, w), conditional_log_probs, sample_steps, sample; the autoregressive ones also log_prob.

    pixelcnn     Gated PixelCNN: convolutions made causal by shifting (any grid size)
    transformer  GPT-style decoder over the grid in raster order, with a key/value cache for sampling
    maskgit      bidirectional Transformer that fills masked cells, a whole grid in a few parallel steps
    rnn          LSTM over the grid read as a flat sequence; its hidden state is its sampling cache
"""

from ..config import MaskGITConfig, PriorConfig, RNNConfig, TransformerConfig, prior_config_from_dict
from .autoregressive import AutoregressivePrior
from .base import Prior, SampleStep
from .maskgit import MaskedTransformer
from .pixelcnn import GatedPixelCNN
from .rnn import GridRNN
from .transformer import GridTransformer

FAMILIES = {"pixelcnn": GatedPixelCNN, "transformer": GridTransformer, "maskgit": MaskedTransformer,
            "rnn": GridRNN}


def build_prior(cfg) -> Prior:
    """An untrained prior from its config: a config dataclass, or a checkpoint's config["prior"] dict."""
    if isinstance(cfg, dict):
        cfg = prior_config_from_dict(cfg)
    return FAMILIES[cfg.type](cfg)


__all__ = ["Prior", "AutoregressivePrior", "SampleStep", "GatedPixelCNN", "GridTransformer", "MaskedTransformer",
           "GridRNN", "PriorConfig", "TransformerConfig", "MaskGITConfig", "RNNConfig", "build_prior", "FAMILIES"]
