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
