"""vq-explorer: a VQ-VAE, a prior over its code grids (Gated PixelCNN, Transformer, RNN or masked
Transformer), a codec built on them, and tools to look inside."""

from .models.config import MaskGITConfig, PriorConfig, RNNConfig, TransformerConfig, VQVAEConfig
from .models.model import VQModel
from .models.priors import GatedPixelCNN, GridRNN, GridTransformer, MaskedTransformer, SampleStep, build_prior
from .models.quantizer import VectorQuantizer
from .models.vqvae import VQVAE
from .service.codec import CodecError, compress, decompress
from .service.compare import compare
from .storage.checkpoint import CheckpointError, load, save
from .storage.tokenizers import TokenizerError, wrap
from .storage.tokenizers import open_tokenizer as open  # noqa: A001, F401 - vqe.open(path_or_hub_id)

# `vqe.open`, never a bare `open` after `from vq_explorer import *`: it would shadow the built-in.

__all__ = ["load", "save", "CheckpointError", "VQModel", "VQVAE", "VQVAEConfig", "GatedPixelCNN",
           "GridTransformer", "MaskedTransformer", "GridRNN", "PriorConfig", "TransformerConfig", "MaskGITConfig",
           "RNNConfig",
           "build_prior", "SampleStep", "VectorQuantizer", "compress", "decompress", "CodecError", "wrap",
           "TokenizerError", "compare"]
