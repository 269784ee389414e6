"""vq-explorer: a VQ-VAE, a prior over its code grids (Gated PixelCNN or Transformer), and tools to look inside."""

from .checkpoint import CheckpointError, load, save
from .config import PriorConfig, TransformerConfig, VQVAEConfig
from .model import VQModel
from .priors import GatedPixelCNN, GridTransformer, SampleStep, build_prior
from .quantizer import VectorQuantizer
from .vqvae import VQVAE

__all__ = ["load", "save", "CheckpointError", "VQModel", "VQVAE", "VQVAEConfig", "GatedPixelCNN",
           "GridTransformer", "PriorConfig", "TransformerConfig", "build_prior", "SampleStep", "VectorQuantizer"]
