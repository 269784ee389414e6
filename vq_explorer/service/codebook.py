"""Looking inside the codebook: how each code looks decoded, and a 2-D map of the code vectors (usage and the
patches each code stands for are the checkpoint's own statistics: models.usage)."""

import torch


@torch.no_grad()
def code_tiles(model, margin_cells: int = 1) -> torch.Tensor:
    """How each code looks decoded: a grid filled with that one code, centre cell (with no margin)."""
    K, f = model.config["num_codes"], model.config["downsample"]
    side = 2 * margin_cells + 1
    grids = torch.arange(K).view(K, 1, 1).expand(K, side, side)
    imgs = torch.cat([model.decode(grids[i:i + 256]) for i in range(0, K, 256)])
    lo = margin_cells * f
    return imgs[:, :, lo:lo + f, lo:lo + f]


def pca_2d(vectors: torch.Tensor) -> torch.Tensor:
    """The first two principal components of the code vectors (K, 2)."""
    x = vectors.float() - vectors.float().mean(0)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    v = v[:2] * v[:2].gather(1, v[:2].abs().argmax(1, keepdim=True)).sign()   # a fixed sign: maps don't flip
    return x @ v.t()
