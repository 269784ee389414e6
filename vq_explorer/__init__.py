"""vq-explorer: a VQ-VAE and a Gated PixelCNN prior over its code grids, and tools to look inside them."""

from .checkpoint import CheckpointError, load, save
from .config import PriorConfig, VQVAEConfig
from .model import VQModel
from .pixelcnn import GatedPixelCNN, SampleStep
from .quantizer import VectorQuantizer
from .vqvae import VQVAE

__all__ = ["load", "save", "CheckpointError", "VQModel", "VQVAE", "VQVAEConfig", "GatedPixelCNN",
           "PriorConfig", "SampleStep", "VectorQuantizer"]
