"""vq-explorer: a VQ-VAE, a prior over its code grids (Gated PixelCNN, Transformer or masked Transformer),
and tools to look inside."""

from .checkpoint import CheckpointError, load, save
from .config import MaskGITConfig, PriorConfig, RNNConfig, TransformerConfig, VQVAEConfig
from .model import VQModel
from .priors import GatedPixelCNN, GridRNN, GridTransformer, MaskedTransformer, SampleStep, build_prior
from .quantizer import VectorQuantizer
from .vqvae import VQVAE

__all__ = ["load", "save", "CheckpointError", "VQModel", "VQVAE", "VQVAEConfig", "GatedPixelCNN",
           "GridTransformer", "MaskedTransformer", "GridRNN", "PriorConfig", "TransformerConfig", "MaskGITConfig",
           "RNNConfig",
           "build_prior", "SampleStep", "VectorQuantizer"]
