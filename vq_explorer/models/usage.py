"""Which codes a model uses on a set of images, and where: the statistics a checkpoint carries (`stats.*`),
computed once at export or evaluation so the app's Codebook tab opens without encoding a test split."""

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
