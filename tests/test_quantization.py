"""The quantization step made visible (service/quantization.py): distances, the chosen code, the error and margin
maps, on hand-made codebooks where every number is known, and on real models where the grid must be the
model's own."""

import math

import pytest
import torch
from conftest import make_tiny_model, states, tiny_vq, words

from vq_explorer import service
from vq_explorer.models.quantizer import nearest_code
from vq_explorer.service import quantization

# Four codes in the plane; z at the origin is equally near codes 0 and 2 (distance 1).
CODEBOOK = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [3.0, 4.0]])


def test_distances_ranks_and_margins_by_hand():
    z = torch.tensor([[0.0, 0.0], [0.5, 0.0], [3.0, 4.0]])
    scores, d2 = quantization.distances(z, CODEBOOK)
    assert torch.allclose(d2, torch.tensor([[1.0, 4.0, 1.0, 25.0], [0.25, 4.25, 2.25, 22.25],
                                            [20.0, 13.0, 32.0, 0.0]]))
    order = quantization.ranked(scores)
    assert order[0].tolist() == [0, 2, 1, 3]              # the tie goes to the lower index, as the argmin's
    assert order[1].tolist() == [0, 2, 1, 3] and order[2].tolist() == [3, 1, 0, 2]
    assert order[:, 0].tolist() == nearest_code(z, CODEBOOK).tolist()
    m = quantization.margins(d2.gather(1, order))
    assert m[0] == 0                                     # two codes equally near: a coin toss
    assert m[1] == pytest.approx((1.5 - 0.5) / 0.5)      # d₂ = 1.5 (code 2), d₁ = 0.5 (code 0)
    assert math.isinf(m[2])                              # z on its code: no other is anywhere near as close


def _with_encoder_output(model, z):
    """The model, its encoder replaced by one that returns `z` (B, d, h, w) whatever the image."""
    model.vqvae.encode_continuous = lambda x: z.expand(len(x), *z.shape[1:]).clone()
    return model


def test_maps_and_cells_on_a_hand_made_codebook():
    model = make_tiny_model(image_size=(8, 8), downsample=4)       # a 2×2 grid
    quantizer = model.vqvae.quantizer
    with torch.no_grad():
        quantizer.codebook.zero_()
        quantizer.codebook[:4, :2] = CODEBOOK
        quantizer.codebook[4:] = 100.0                             # every other code far away
    z = torch.zeros(1, quantizer.codebook.shape[1], 2, 2)
    z[0, :2, 0, 1] = torch.tensor([0.5, 0.0])
    z[0, :2, 1, 0] = torch.tensor([3.0, 4.0])
    z[0, :2, 1, 1] = torch.tensor([0.0, 1.2])
    _with_encoder_output(model, z)
    x = torch.rand(1, 1, 8, 8)
    q = quantization.quantization(model, x)
    assert q.grid.tolist() == [[0, 0], [3, 1]] == model.encode(x)[0].tolist()
    assert torch.allclose(q.error, torch.tensor([[1.0, 0.25], [0.0, 0.64]]))
    assert q.margin[0, 0] == 0 and q.margin[0, 1] == pytest.approx(2.0) and math.isinf(q.margin[1, 0])
    assert q.margin[1, 1] == pytest.approx((math.sqrt(1.44 + 1) - 0.8) / 0.8)   # code 1 at 0.8, then code 0
    c = quantization.cell(model, q, 0, 0)
    assert c["code"] == 0 and c["codes"][:4] == [0, 2, 1, 3] and c["distances"][:2] == pytest.approx([1.0, 1.0])
    assert c["z"][:2] == [0.0, 0.0] and c["error"] == 1.0 and len(c["codes"]) == quantization.TOP
    with pytest.raises(IndexError):
        quantization.cell(model, q, 2, 0)
    # the distance to the half-way plane between the two nearest codes, (d₂² − d₁²) / (2‖e₂ − e₁‖), by hand: a tie
    # is on it; (0.5, 0) is 0.5 from x = 0; on code 3, √13 / 2 from the plane to code 1; (0, 1.2) against codes
    # 1 and 0, (2.44 − 0.64) / (2√5)
    assert q.boundary[0, 0] == 0 and q.boundary[0, 1] == pytest.approx(0.5)
    assert q.boundary[1, 0] == pytest.approx(math.sqrt(13) / 2)
    boundary = quantization.cell(model, q, 1, 1)["boundary"]
    assert q.boundary[1, 1] == pytest.approx(1.8 / (2 * math.sqrt(5))) == boundary


@pytest.mark.parametrize("kind", ["vq", "fsq"])
def test_the_grid_is_the_models_own_and_the_error_its_distance(kind, mnist_1000):
    from vq_explorer.models.model import VQModel
    from vq_explorer.models.vqvae import VQVAE
    from vq_explorer.storage.checkpoint import make_config
    torch.manual_seed(0)
    cfg = tiny_vq(downsample=4, init="none", **({"fsq_levels": [8, 4], "num_codes": 32} if kind == "fsq" else {}))
    model = VQModel(VQVAE(cfg).eval(), None, make_config(cfg, None, "mnist", (28, 28)))
    x = mnist_1000[0][:6].float() / 255
    for i in range(len(x)):
        q = quantization.quantization(model, x[i:i + 1])
        assert torch.equal(q.grid, model.encode(x[i:i + 1])[0])
        assert q.error.shape == q.margin.shape == (7, 7) and (q.error >= 0).all() and (q.margin >= 0).all()
        if kind == "fsq":
            assert q.fsq and (q.margin <= 0.5).all()
            c = quantization.cell(model, q, 3, 3)
            assert len(c["z"]) == 2 and c["codes"][0] == int(q.grid[3, 3]) and len(c["codes"]) in (1, 2)
            assert all(abs(v - round(v)) <= 0.5 for v in c["z"]) and min(c["to_flip"]) == pytest.approx(
                float(q.margin[3, 3]))
        else:
            e = model.vqvae.quantizer.codebook[q.grid]
            assert torch.allclose(q.error, (q.z - e).pow(2).sum(-1), atol=1e-4)
            assert (q.distance[..., 0] <= q.distance[..., 1]).all()


def test_the_shipped_models_grids_are_its_own_on_test_digits(mnist_1000):
    from pathlib import Path

    import vq_explorer as vqe
    path = Path(__file__).resolve().parents[1] / "checkpoints" / "mnist.safetensors"
    if not path.exists():
        pytest.skip("needs the shipped model")
    model = vqe.load(path, device="cpu")
    x = mnist_1000[0][:20].float() / 255
    batched = model.encode(x)
    flipped = []
    for i in range(len(x)):
        q = quantization.quantization(model, x[i:i + 1])
        assert torch.equal(q.grid, model.encode(x[i:i + 1])[0])   # one image, as the app encodes it
        # Encoded in a batch, the encoder's arithmetic rounds a little differently: the cells whose code then
        # changes are near-ties, the ones the margin map shows as coin tosses.
        flipped += q.margin[q.grid != batched[i]].tolist()
    assert all(m < 0.01 for m in flipped), flipped
    assert quantization.typical_error(model) > 0


def test_the_cell_words_say_exact_at_distance_0_and_name_the_boundary_distance():
    from vq_explorer.ui import quantize
    on = quantize._vq_text({"row": 1, "col": 0, "code": 3, "codes": [3, 1], "distances": [0.0, 3.6],
                            "boundary": 1.8, "error": 0.0}, None)
    assert "exact" in on and "won by" not in on and "%" not in on
    assert "Distance to the boundary with code 1 (how far z must move to flip): **1.8**" in on
    near = quantize._vq_text({"row": 0, "col": 1, "code": 0, "codes": [0, 2], "distances": [0.5, 1.5],
                              "boundary": 0.5, "error": 0.25}, None)
    assert "won by 200.0% (relative margin)" in near and "**0.5**" in near and "exact" not in near


def test_a_model_whose_encode_gives_codes_says_it_has_no_latents_to_show():
    """A wrapped model whose `encode` returns codes: z would be its code's own vector, its margins float noise;
    the panel says there are no continuous latents to show, with no maps, and the endpoint returns none."""
    import vq_explorer as vqe
    from vq_explorer.ui import quantize
    codebook = torch.randn(16, 4)

    def codes(x):                                    # (B, 4, 4) codes from the image's first channel
        return (x[:, 0, ::4, ::4] * 15).round().long()

    def decode(c):                                   # a grey square per cell
        return codebook[c].mean(-1).sigmoid()[:, None].repeat_interleave(4, 2).repeat_interleave(4, 3).expand(
            -1, 3, -1, -1)
    model = vqe.wrap(codes, decode, codebook, downsample=4, side=16)
    x = torch.rand(1, 3, 16, 16)
    q = quantization.quantization(model, x)
    assert q.codes_only and torch.equal(q.grid, model.encode(x)[0])
    token = service.remember_input("codes", x)

    class One:
        def get(self, name):
            return model
    maps_error, maps_margin, intro, text, *rest = quantize.panel(One(), "codes", token)
    assert maps_error is None and maps_margin is None and intro == quantize.CODES_ONLY
    assert states(text) == {"codes-only"} and words(text) == ""
    latents = vqe.wrap(lambda x: torch.randn(len(x), 4, 4, 4), decode, codebook, downsample=4, side=16)
    assert not quantization.quantization(latents, x).codes_only
