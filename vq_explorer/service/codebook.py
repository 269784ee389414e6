"""Looking inside the codebook: usage over a dataset, the image patches each code stands for, how each code
looks decoded, and a 2-D map of the code vectors."""

import torch
import torch.nn.functional as F


@torch.no_grad()
def code_stats(model, images: torch.Tensor, per_code: int = 6, patch_images: int = 3000) -> dict:
    """usage (K,) over all `images` (uint8); patches (K, per_code, C, 2f, 2f) uint8 — each code's cell with a
    margin of f/2, taken from the images where that code occurs most often; patch_count (K,)."""
    K, f = model.config["num_codes"], model.config["downsample"]
    grids = torch.cat([model.encode(images[i:i + 500].float() / 255) for i in range(0, len(images), 500)])
    usage = torch.bincount(grids.reshape(-1), minlength=K)

    sub, g = images[:patch_images], grids[:patch_images]
    n, h, w = g.shape
    padded = F.pad(sub.float(), (f // 2, h * f - sub.shape[-1] + f // 2, f // 2, w * f - sub.shape[-2] + f // 2),
                   mode="replicate")
    cells = F.unfold(padded, 2 * f, stride=f)                          # (n, C·4f², h·w)
    cells = cells.transpose(1, 2).reshape(n, h * w, sub.shape[1], 2 * f, 2 * f)
    flat = g.reshape(n, -1)
    per_image = torch.zeros(n, K, dtype=torch.long).scatter_add_(1, flat, torch.ones_like(flat))
    patches = torch.zeros(K, per_code, sub.shape[1], 2 * f, 2 * f, dtype=torch.uint8)
    count = torch.zeros(K, dtype=torch.long)
    top = per_image.topk(min(per_code, n), dim=0)                      # best images for every code at once
    for k in torch.nonzero(usage[:] > 0).flatten().tolist():
        for img, c in zip(top.indices[:, k].tolist(), top.values[:, k].tolist(), strict=True):
            if c == 0:
                break
            cell = int(torch.nonzero(flat[img] == k)[0])
            patches[k, count[k]] = cells[img, cell].round().clamp(0, 255).to(torch.uint8)
            count[k] += 1
    return {"usage": usage, "patches": patches, "patch_count": count}


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
