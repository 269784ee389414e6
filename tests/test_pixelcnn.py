"""The Gated PixelCNN's own: its cached sampler across kernel sizes and depths. What every prior family must
do (causality, sampling, cached = plain) is in test_priors.py, run on the PixelCNN too."""

import pytest
import torch
from conftest import tiny_prior

from vq_explorer.models.priors.pixelcnn import CachedSampler, GatedPixelCNN


@pytest.mark.parametrize("kernel,layers,shape,classes", [(3, 4, (5, 6), 3), (5, 3, (4, 4), 0), (3, 6, (1, 7), 2),
                                                         (7, 2, (6, 2), 0)])
def test_cached_logits_equal_the_full_forward(kernel, layers, shape, classes):
    torch.manual_seed(kernel + layers)
    m = GatedPixelCNN(tiny_prior(kernel=kernel, layers=layers, num_classes=classes)).eval()
    g = torch.randint(0, 32, (3, *shape))
    y = torch.tensor([0, 1, 1]) if classes else None
    with torch.no_grad():
        full = m(g, y)
        cache = CachedSampler(m, 3, shape, y)
        for r in range(shape[0]):
            for c in range(shape[1]):
                assert torch.allclose(cache.logits(g, r, c), full[:, :, r, c], atol=1e-5), (r, c)


def _recipe_pixelcnns():
    from vq_explorer.commands.recipes import DATASET_SHAPES, RECIPES, recipe_args
    for name, (dataset, args) in RECIPES.items():
        parsed = recipe_args(dataset, args)
        if parsed.prior == "pixelcnn" and dataset in DATASET_SHAPES:
            yield pytest.param(parsed, DATASET_SHAPES[dataset][2] // parsed.downsample, id=name)


@pytest.mark.parametrize("parsed,side", list(_recipe_pixelcnns()))
def test_every_recipes_pixelcnn_sees_the_whole_grid_before_its_last_row(parsed, side):
    """Each layer widens the receptive field by kernel // 2 cells, so a prior too shallow for its grid draws the
    bottom of an image without seeing its top: a 10-layer prior on a 14×14 grid does, and its samples lose
    their class. The cells of the last row must depend on every cell before them."""
    from types import SimpleNamespace

    from vq_explorer.commands.train import prior_config
    cfg = prior_config(parsed, SimpleNamespace(class_names=list("0123456789")), parsed.num_codes, (side, side))
    torch.manual_seed(0)
    m = GatedPixelCNN(cfg).double()
    for c in (0, side - 1):
        e = torch.randn(1, cfg.channels, side, side, dtype=torch.double, requires_grad=True)
        logits = m.forward_embedded(e, torch.tensor([3]))
        (logits[0, :, side - 1, c] * torch.randn(cfg.num_codes, dtype=torch.double)).sum().backward()
        seen = e.grad[0].abs().sum(0).view(-1)[: (side - 1) * side + c]
        assert (seen > 0).all(), f"cell ({side - 1}, {c}) of {side}×{side} misses {int((seen == 0).sum())} cells"
