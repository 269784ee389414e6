import pytest
import torch
from conftest import tiny_vq

from vq_explorer.models.vqvae import VQVAE


@pytest.mark.parametrize("f", [2, 4, 8])
@pytest.mark.parametrize("c,h,w", [(1, 28, 28), (3, 32, 32), (1, 30, 17), (3, 5, 9)])
def test_padding_and_cropping_round_trip_shapes(f, c, h, w):
    m = VQVAE(tiny_vq(downsample=f, in_channels=c)).eval()
    x = torch.rand(2, c, h, w)
    out = m(x)
    gh, gw = -(-h // f), -(-w // f)
    assert out.recon.shape == x.shape
    assert out.indices.shape == (2, gh, gw)
    idx = m.encode(x)
    assert torch.equal(idx, out.indices)
    img = m.decode(idx, (h, w))
    assert img.shape == x.shape and img.min() >= 0 and img.max() <= 1
    assert m.decode(idx).shape == (2, c, gh * f, gw * f)   # uncropped: the grid's full extent


def test_fully_convolutional():
    m = VQVAE(tiny_vq())
    assert not any(isinstance(mod, torch.nn.Linear) for mod in m.modules())


def test_bad_downsample_is_refused():
    with pytest.raises(ValueError, match="power of two"):
        VQVAE(tiny_vq(downsample=3))


def test_encoder_gets_gradient_from_reconstruction_loss_through_the_quantizer():
    m = VQVAE(tiny_vq(ema=False, init="none")).train()
    out = m(torch.rand(4, 1, 16, 16))
    out.recon_loss.backward()
    enc_grad = sum(p.grad.abs().sum() for p in m.encoder.parameters() if p.grad is not None)
    assert enc_grad > 0
    assert m.quantizer.codebook.grad is None or m.quantizer.codebook.grad.abs().sum() == 0


@pytest.mark.slow
def test_small_vqvae_overfits_64_mnist_images(mnist_1000):
    torch.manual_seed(0)
    x = mnist_1000[0][:64].float() / 255
    m = VQVAE(tiny_vq(channels=32, num_codes=64, code_dim=16, dead_after=5)).train()
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    first = None
    for _ in range(300):
        out = m(x)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        first = first if first is not None else out.recon_loss.item()
    m.eval()
    final = torch.mean((m.decode(m.encode(x), (28, 28)) - x) ** 2).item()
    assert final < first / 8, (first, final)
    assert final < 0.02
