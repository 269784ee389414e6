"""Implicit codebooks: FSQ (each of D numbers rounded to one of its L_i levels, K = ∏ L_i) and LFQ (each of D
numbers reduced to its sign, K = 2^D). The codebook is a rule, not a table, and K reaches 2¹⁶–2¹⁸, so nothing
here holds K × D numbers unless a view asks for the whole codebook: a code is its digits (one level per
dimension), its vector is computed from them, its neighbours are the codes one level step (FSQ) or one bit flip
(LFQ) away, and the nearest code of a vector is found by rounding, dimension by dimension.

The interface is that of models.fsq.FSQ where the app reads it (`levels`, `bound`, `project_in`,
`levels_to_indices`, `indices`, `lookup`), so the quantization panel shows each dimension's distance to its
rounding boundary. LFQ is FSQ with two levels per dimension whose boundary is 0: its `bound` maps a number to
(−1, 0), −0.5 at 0, so that rounding gives level 0 (bit 1) for a positive number and −1 (bit 0) otherwise.

Codes follow vector-quantize-pytorch's numbering: FSQ's first dimension is the least significant digit, LFQ's
the most significant bit. Given one of its `FSQ` or `LFQ` modules, the codes are the module's own.
"""

import math
from types import SimpleNamespace

import torch
import torch.nn as nn

from .tokenizer import Tokenizer, WrappedTokenizer


class ImplicitCodebook(nn.Module):
    """FSQ levels or LFQ bits (`kind` "fsq" or "lfq"), optionally with the vector-quantize-pytorch module that
    implements them (`module`: its projection in, and its own codes)."""

    def __init__(self, levels, kind: str = "fsq", module: nn.Module | None = None, symmetric: bool = False,
                 scale: float = 1.0):
        super().__init__()
        self.kind, self.levels, self.symmetric, self.scale = kind, tuple(int(v) for v in levels), symmetric, scale
        if not self.levels or min(self.levels) < 2:
            raise ValueError(f"levels must be two or more per dimension, not {list(levels)}")
        self.num_codes, self.code_dim = math.prod(self.levels), len(self.levels)
        self.module = module
        self.register_buffer("_levels", torch.tensor(self.levels, dtype=torch.float32), persistent=False)
        basis = ([2 ** i for i in range(self.code_dim - 1, -1, -1)] if kind == "lfq"
                 else [math.prod(self.levels[:i]) for i in range(self.code_dim)])
        self.register_buffer("_basis", torch.tensor(basis, dtype=torch.long), persistent=False)

    @property
    def family(self) -> str:
        """What the selector's description calls it."""
        if self.kind == "lfq":
            return f"LFQ tokenizer ({self.code_dim} bits, an implicit codebook)"
        return f"FSQ tokenizer (levels {'·'.join(map(str, self.levels))}, an implicit codebook)"

    def project_in(self, flat: torch.Tensor) -> torch.Tensor:
        project = getattr(self.module, "project_in", None)
        return project(flat) if project is not None else flat

    def bound(self, h: torch.Tensor) -> torch.Tensor:
        """(N, D) numbers before rounding, centred so that `round` gives each dimension's level."""
        L = self._levels.to(h.device)
        if self.kind == "lfq":
            return torch.tanh(h) * 0.5 - 0.5
        if self.symmetric:       # vector-quantize-pytorch's symmetry-preserving bound (floor of x + 0.5)
            return (L - 1) * (torch.tanh(h) + 1) / 2 - L // 2
        half = (L - 1) * (1 + 1e-3) / 2
        offset = (L % 2 == 0).float() * 0.5
        return torch.tanh(h + torch.atanh(offset / half)) * half - offset

    def levels_to_indices(self, levels: torch.Tensor) -> torch.Tensor:
        L = self._levels.to(levels.device)
        return ((levels.round() + L // 2).long() * self._basis.to(levels.device)).sum(-1)

    def digits(self, idx: torch.Tensor) -> torch.Tensor:
        """Codes (...) → their level per dimension, 0..L_i − 1 (...,  D)."""
        return (idx.long()[..., None] // self._basis.to(idx.device)) % self._levels.long().to(idx.device)

    def indices(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, D_in) → (N,) codes: the module's own where there is one, else rounding."""
        if self.module is not None:
            out = self.module(flat[None])
            return out[1].reshape(-1).long()
        if self.kind == "lfq":
            return ((flat > 0).long() * self._basis.to(flat.device)).sum(-1)
        return self.levels_to_indices(self.bound(flat).round())

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Codes → their vectors in the quantizer's space (FSQ: levels scaled to [−1, 1]; LFQ: ±scale)."""
        d = self.digits(idx).float()
        if self.kind == "lfq":
            return (d * 2 - 1) * self.scale
        L = self._levels.to(d.device)
        if self.symmetric:
            return d * (2 / (L - 1)) - 1
        return (d - L // 2) / (L // 2)

    @property
    def codebook(self) -> torch.Tensor:
        """Every code's vector (K, D): only for a view that needs them all."""
        return self.lookup(torch.arange(self.num_codes, device=self._levels.device))

    def neighbours(self, code: int) -> torch.Tensor:
        """The codes one level step (FSQ) or one bit flip (LFQ) away from `code`, dimension by dimension."""
        d = self.digits(torch.tensor(int(code)))
        out = []
        for i in range(self.code_dim):
            for step in (-1, 1):
                v = int(d[i]) + step
                if 0 <= v < self.levels[i]:
                    out.append(int(code) + (v - int(d[i])) * int(self._basis[i]))
        return torch.tensor(sorted(set(out)), dtype=torch.long)


def from_module(module: nn.Module) -> ImplicitCodebook:
    """The implicit codebook of a vector-quantize-pytorch `FSQ` or `LFQ`; ValueError for a variant not read."""
    name = type(module).__name__
    if name == "FSQ" or hasattr(module, "indices_to_level_indices") and hasattr(module, "codes_to_indices"):
        if getattr(module, "num_codebooks", 1) != 1 or getattr(module, "orthogonal_rotation", False):
            raise ValueError("an FSQ with several codebooks or a rotation (read as one codebook it is not)")
        last = torch.tensor([int(module.codebook_size) - 1])    # its level indices are each level count − 1
        levels = [int(v) + 1 for v in module.indices_to_level_indices(last).flatten().tolist()]
        return ImplicitCodebook(levels, "fsq", module, symmetric=bool(getattr(module, "preserve_symmetry", False)))
    if name == "LFQ" or hasattr(module, "codebook_dim") and hasattr(module, "mask"):
        if getattr(module, "num_codebooks", 1) != 1:
            raise ValueError("an LFQ with several codebooks (read as one codebook it is not)")
        return ImplicitCodebook([2] * int(module.codebook_dim), "lfq", module,
                                scale=float(getattr(module, "codebook_scale", 1.0)))
    raise ValueError(f"a {name}, which is neither vector-quantize-pytorch's FSQ nor its LFQ")


def implicit_codebook(codebook=None, levels=None, bits=None) -> ImplicitCodebook | None:
    """The implicit codebook `vqe.wrap` was given (an FSQ or LFQ module, `levels=[…]` or `bits=N`), or None
    for a K × d table; ValueError for what is none of these."""
    given = [x is not None for x in (levels, bits)]
    if sum(given) > 1 or any(given) and codebook is not None:
        raise ValueError("give one codebook: a K × d table, an FSQ or LFQ module, levels=[…] or bits=N")
    if levels is not None:
        return ImplicitCodebook(levels, "fsq")
    if bits is not None:
        if not 1 <= int(bits) <= 30:
            raise ValueError(f"bits must be between 1 and 30, not {bits}")
        return ImplicitCodebook([2] * int(bits), "lfq")
    if isinstance(codebook, nn.Module):
        return from_module(codebook)
    return None


class ImplicitTokenizer(WrappedTokenizer):
    """A wrapped model whose quantizer is an implicit codebook: `encode(x)` gives the latents before
    quantization (B, D_in, h, w), whose codes the codebook finds, or the codes (B, h, w) themselves."""

    kind = "python"

    def __init__(self, encode, decode, codebook: ImplicitCodebook, downsample: int, channels: int = 3,
                 value_range=(0.0, 1.0), modules=()):
        Tokenizer.__init__(self)
        self._encode, self._decode = encode, decode
        self.held = nn.ModuleList([m for m in modules if isinstance(m, nn.Module)])
        self.quantizer = codebook
        self.lo, self.hi = map(float, value_range)
        self.cfg = SimpleNamespace(downsample=int(downsample), in_channels=int(channels),
                                   num_codes=codebook.num_codes, code_dim=codebook.code_dim)
