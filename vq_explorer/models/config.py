"""Model settings as dataclasses: every size lives here, so a checkpoint describes itself. The comment beside a
field is its documentation: train.py's flags take their help text from it (`field_help`)."""

import inspect
import re
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache
from typing import ClassVar


@dataclass
class VQVAEConfig:
    in_channels: int = 1        # 1 for greyscale, 3 for RGB
    channels: int = 64          # width of the conv trunk
    res_blocks: int = 2         # residual blocks at the bottleneck, in encoder and decoder each
    downsample: int = 4         # image side / grid side; a power of two (2, 4, 8, ...)
    num_codes: int = 256        # K
    code_dim: int = 32          # d
    beta: float = 0.25          # commitment weight (the VQ-VAE paper's value)
    ema: bool = True            # codebook by exponential moving averages instead of the codebook loss
    ema_decay: float = 0.99     # share of the codebook's running averages each step keeps
    ema_eps: float = 1e-5       # Laplace smoothing of the EMA cluster sizes
    init: str = "kmeans++"      # codebook from the first batch: "kmeans++", "random" (samples) or "none"
    dead_after: int = 20        # a code unused for this many training steps counts as dead
    restart_dead: bool = True   # re-seed dead codes from recent encoder outputs
    gradient: str = "ste"       # the encoder's gradient past the codebook: "ste" (straight-through) or "rotation"
    fsq_levels: list = field(default_factory=list)   # finite scalar quantization with these levels (K = product)


# The values a string field accepts: its flag's choices.
CHOICES = {"init": ("kmeans++", "random", "none"), "gradient": ("ste", "rotation")}


# The codebook lab's quantizer variants (train.py --quantizer): the VQVAEConfig fields each one sets.
QUANTIZERS = {
    "plain": dict(ema=False, init="none", restart_dead=False),      # the VQ-VAE paper as many copies do it
    "ema": dict(ema=True, init="none", restart_dead=False),
    "ema+kmeans": dict(ema=True, init="kmeans++", restart_dead=False),
    "ema+kmeans+restart": dict(ema=True, init="kmeans++", restart_dead=True),   # the default
    "rotation": dict(ema=False, init="none", restart_dead=False, gradient="rotation"),   # plain + rotation trick
    "fsq": dict(fsq_levels=None),                                     # levels from K: fsq.fsq_levels
}


def quantizer_variant(cfg: VQVAEConfig, name: str) -> VQVAEConfig:
    """`cfg` with the named variant's quantizer (its other settings kept)."""
    from .fsq import fsq_levels
    if name not in QUANTIZERS:
        raise ValueError(f"unknown quantizer {name!r}: choose one of {list(QUANTIZERS)}")
    changes = dict(QUANTIZERS[name])
    if "fsq_levels" in changes:
        changes["fsq_levels"] = list(fsq_levels(cfg.num_codes))
    return replace(cfg, **{**dict(gradient="ste", fsq_levels=[]), **changes})


@dataclass
class PriorConfig:
    """The Gated PixelCNN prior."""
    name: ClassVar[str] = "Gated PixelCNN"   # the family's name where people read it
    type: str = "pixelcnn"      # the prior family (a file without it holds a PixelCNN)
    num_codes: int = 256        # K, must match the VQ-VAE
    channels: int = 64          # width of both stacks
    layers: int = 10            # gated layers
    kernel: int = 3             # odd; each layer widens the receptive field by kernel // 2
    num_classes: int = 0        # 0 = unconditional; otherwise a learned per-class bias in every layer


@dataclass
class TransformerConfig:
    """The GPT-style prior over the grid read in raster order."""
    name: ClassVar[str] = "Transformer"
    type: str = "transformer"
    num_codes: int = 256        # K, must match the VQ-VAE
    dim: int = 128              # width of the residual stream
    layers: int = 4             # transformer blocks
    heads: int = 4              # attention heads; dim must be divisible by them
    rows: int = 7               # the largest grid it knows positions for: learned row and column embeddings
    cols: int = 7
    num_classes: int = 0        # 0 = unconditional; otherwise a learned class embedding (+ a "no class" entry)
    class_per_block: bool = False   # add a class embedding before every block, not only at the input


@dataclass
class MaskGITConfig:
    """The masked (bidirectional) Transformer prior that fills a grid in a few parallel steps (MaskGIT)."""
    name: ClassVar[str] = "masked Transformer"
    type: str = "maskgit"
    num_codes: int = 256        # K, must match the VQ-VAE; index K is the [MASK] token
    dim: int = 128              # width of the residual stream
    layers: int = 4             # transformer blocks, without the causal mask
    heads: int = 4              # attention heads; dim must be divisible by them
    rows: int = 7               # the largest grid it knows positions for
    cols: int = 7
    num_classes: int = 0        # 0 = unconditional; otherwise a class embedding (+ a "no class" entry)
    steps: int = 8              # default number of sampling steps
    guidance: float = 0.0       # default classifier-free guidance when sampling with a class (0 = none)
    choice_temperature: float = 4.5   # randomness added to the confidences when choosing cells, annealed to 0


@dataclass
class RNNConfig:
    """The recurrent prior: an LSTM over the grid read in raster order, as a flat sequence."""
    name: ClassVar[str] = "RNN (LSTM)"
    type: str = "rnn"
    num_codes: int = 256        # K, must match the VQ-VAE; index K is the start token
    dim: int = 128              # code, position and class embeddings (the LSTM's input)
    hidden: int = 256           # the LSTM's state
    layers: int = 2             # stacked LSTM layers
    rows: int = 7               # the largest grid it knows positions for: learned row and column embeddings
    cols: int = 7
    num_classes: int = 0        # 0 = unconditional; otherwise a class embedding (+ a "no class" entry)


PRIOR_CONFIGS = {"pixelcnn": PriorConfig, "transformer": TransformerConfig, "maskgit": MaskGITConfig,
                 "rnn": RNNConfig}
FAMILY_NAMES = {kind: c.name for kind, c in PRIOR_CONFIGS.items()}   # the one list of the families' names


def prior_config_from_dict(d: dict):
    """The prior's config from a checkpoint's config["prior"], by its "type" (default: pixelcnn)."""
    kind = d.get("type", "pixelcnn")
    if kind not in PRIOR_CONFIGS:
        raise ValueError(f"unknown prior type {kind!r}: this version knows {', '.join(PRIOR_CONFIGS)}")
    return from_dict(PRIOR_CONFIGS[kind], d)


@cache
def field_help(cls) -> dict[str, str]:
    """Each field's comment in the dataclass's source (a field without one gets ""): so a setting is described
    once, where it is defined, and the command line cannot drift from it."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.+)$", line)
        if m:
            comments[m[1]] = m[2].strip()
    return {f.name: comments.get(f.name, "") for f in fields(cls)}


def from_dict(cls, d: dict):
    """Build a config dataclass from a dict, ignoring keys it does not know (older or newer files)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


__all__ = ["VQVAEConfig", "QUANTIZERS", "CHOICES", "field_help", "quantizer_variant", "PriorConfig",
           "TransformerConfig", "MaskGITConfig", "RNNConfig", "PRIOR_CONFIGS", "FAMILY_NAMES",
           "prior_config_from_dict", "from_dict", "asdict"]
