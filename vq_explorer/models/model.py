"""The bundle the app and the API use: a trained VQ-VAE, its prior, and what the checkpoint says about them."""

import itertools
from dataclasses import dataclass, field

import torch

from .priors import Prior
from .training import autocast
from .vqvae import VQVAE


@dataclass(eq=False)  # compared and hashed by identity: caches key on the loaded model
class VQModel:
    vqvae: VQVAE                      # or a models.tokenizer.Tokenizer: one made elsewhere, the same interface
    prior: Prior | None               # GatedPixelCNN, GridTransformer, MaskedTransformer; None: a lab model
    config: dict                       # dataset, image_size, channels, grid, num_codes, code_dim, downsample, ...
    metrics: dict = field(default_factory=dict)
    examples: torch.Tensor | None = None         # uint8 (N, C, H, W) test images shipped for the app
    example_labels: torch.Tensor | None = None   # int64 (N,)
    stats: dict = field(default_factory=dict)    # usage.code_stats over the test split: usage, patches
    precision: str = "fp32"   # the decoder's: "bf16" decodes under bfloat16 autocast (codes stay float32)

    @property
    def device(self) -> torch.device:
        return next(itertools.chain(self.vqvae.parameters(), self.vqvae.buffers())).device

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.config["grid"])

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.config["image_size"])

    def to(self, device) -> "VQModel":
        self.vqvae.to(device)
        if torch.device(device).type == "cpu" and self._channels_last:   # oneDNN's convolutions: 2–4× faster
            self.vqvae.to(memory_format=torch.channels_last)
        if self.prior is not None:
            self.prior.to(device)
        return self

    @property
    def _channels_last(self) -> bool:
        """Our own VQ-VAE runs in channels-last layout on the CPU; a tokenizer made elsewhere keeps its own, so
        its codes are the ones its own code computes, to the last bit."""
        return getattr(self.vqvae, "channels_last", True)

    def _needs_prior(self):
        if self.prior is None:
            raise ValueError("this model has no prior (a VQ-VAE trained in the codebook lab): likelihoods and "
                             "sampling need one")

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """float32 (B, C, H, W) in [0, 1] → int64 (B, h, w). Always in float32, whatever autocast the caller
        runs under and whatever `precision` decodes in: the codes are the tokenizer's own."""
        with torch.autocast(self.device.type, enabled=False):
            return self.vqvae.encode(self.encoder_input(x)).cpu()

    def encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """Images as the encoder takes them: float32 on the model's device, in the layout its convolutions use."""
        x = x.to(self.device, torch.float32)
        return x.contiguous(memory_format=torch.channels_last) if self._channels_last else x

    @torch.no_grad()
    def decode(self, idx: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """int (B, h, w) → float32 (B, C, H, W) in [0, 1], cropped to `size` (default: the training image size
        when the grid has the training grid's size; a photo's grid decodes whole, a multiple of the factor)."""
        idx = torch.as_tensor(idx)
        if size is None and tuple(idx.shape[-2:]) == self.grid:
            size = self.image_size
        with autocast(self.device, self.precision):
            return self.vqvae.decode(idx.to(self.device), size).float().cpu()

    @torch.no_grad()
    def log_prob_cells(self, idx, labels=None) -> torch.Tensor:
        self._needs_prior()
        labels = None if labels is None else torch.as_tensor(labels).to(self.device)
        return self.prior.log_prob_cells(torch.as_tensor(idx).to(self.device), labels).cpu()

    @torch.no_grad()
    def log_prob(self, idx, labels=None) -> torch.Tensor:
        return self.log_prob_cells(idx, labels).sum((1, 2))

    @torch.no_grad()
    def conditional_log_probs(self, idx, labels=None) -> torch.Tensor:
        """Each cell's log p given the cells before it (autoregressive priors) or all the others (masked)."""
        self._needs_prior()
        labels = None if labels is None else torch.as_tensor(labels).to(self.device)
        return self.prior.conditional_log_probs(torch.as_tensor(idx).to(self.device), labels).cpu()

    def sample_steps(self, n, labels=None, temperature=1.0, top_k=None, seed=None, grid=None, mask=None,
                     cached=True, steps=None, guidance=None):
        """Yields a SampleStep per cell (autoregressive) or per parallel step (masked prior, `steps` of them);
        cached=False is the plain, slower reference of an autoregressive prior; `guidance` is the masked
        prior's classifier-free guidance (None: its own default; the other families have none)."""
        self._needs_prior()
        unguided = guidance is None or (not guidance and self.prior.exact_likelihood)
        extra = {} if unguided else {"guidance": guidance}
        shape = self.grid if grid is None else tuple(torch.as_tensor(grid).shape[-2:])   # a photo's own grid
        return self.prior.sample_steps(n, shape, labels=labels, temperature=temperature, top_k=top_k,
                                       seed=seed, grid=grid, mask=mask, cached=cached, steps=steps, **extra)

    def sample(self, n, labels=None, temperature=1.0, top_k=None, seed=None, grid=None, mask=None,
               cached=True, steps=None, guidance=None):
        *_, last = self.sample_steps(n, labels, temperature, top_k, seed, grid, mask, cached, steps, guidance)
        return last.grid.cpu()
