"""One encoder pass per upload (service/latents.py): Reconstruct, the quantization panel and the painter share it,
and the codes taken from it are the model's own."""

import pytest
import torch
from conftest import SMALL_DIFFUSERS, make_tiny_model

import vq_explorer as vqe
from vq_explorer import service
from vq_explorer.service import quantization

diffusers = pytest.importorskip("diffusers")


def counted(model):
    calls, inner = [], model.vqvae.encode_continuous
    model.vqvae.encode_continuous = lambda x: (calls.append(1), inner(x))[1]
    return calls


@pytest.fixture(params=["ours", "diffusers"])
def model(request, tmp_path):
    if request.param == "ours":
        return make_tiny_model(channels=3, image_size=(32, 32), classes=None)
    torch.manual_seed(0)
    diffusers.VQModel(**SMALL_DIFFUSERS).save_pretrained(tmp_path / "m")
    return vqe.open(str(tmp_path / "m"), side=32)


def test_reconstruct_the_quantization_panel_and_the_painter_share_one_encoder_pass(model):
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    truth = model.encode(x)
    calls = counted(model)
    rec = service.reconstruct(model, x)
    q = quantization.quantization(model, x)
    painter = service.encode(model, x)
    assert len(calls) == 1
    assert torch.equal(rec.grid, truth[0]) and torch.equal(q.grid, truth[0]) and torch.equal(painter, truth[0])
    service.reconstruct(model, x.flip(-1))                                  # other pixels: encoded anew
    assert len(calls) == 2


def test_a_wrapped_models_codes_come_from_its_own_encode():
    codebook = torch.randn(16, 3)
    model = vqe.wrap(lambda x: torch.randint(0, 16, (x.shape[0], x.shape[2] // 4, x.shape[3] // 4)),
                     lambda idx: codebook[idx].permute(0, 3, 1, 2).repeat_interleave(4, 2).repeat_interleave(4, 3),
                     codebook, downsample=4, side=32)
    x = torch.rand(1, 3, 32, 32)
    torch.manual_seed(5)
    own = model.encode(x)
    torch.manual_seed(5)
    assert torch.equal(service.encode(model, x), own[0])


def test_the_painter_opens_on_reconstructs_picture_and_the_usage_count_on_its_encoder_pass(model, monkeypatch):
    """Opening a tokenizer: Reconstruct shows shipped example 1, the painter opens on the same grid, and the
    usage over the examples counts it again; one encode and one decode of it serve all three."""
    from vq_explorer.service import codebook, strokes
    examples = (torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(4)) * 255).to(torch.uint8)
    monkeypatch.setattr(model, "examples", examples)
    encodes = counted(model)
    decodes, inner = [], model.vqvae.decode
    model.vqvae.decode = lambda *a, **k: (decodes.append(tuple(a[0].shape)), inner(*a, **k))[1]
    x = examples[:1].float() / 255
    rec = service.reconstruct(model, x)
    grid = service.example_grid(model)
    picture, exact = strokes.decode_picture(model, grid, exact=True)
    usage = codebook._count_examples(model)
    assert len(encodes) == 3                                # examples 2 and 3 are new to the encoder
    assert decodes.count((1, *rec.grid.shape)) == 1          # (the reach's dry run decodes a 4×4 grid)
    assert torch.equal(grid, rec.grid) and exact
    assert torch.equal(picture[:, :32, :32], rec.recon)
    assert torch.equal(usage, sum(torch.bincount(model.encode(e[None].float() / 255).flatten(),
                                                 minlength=model.config["num_codes"]) for e in examples))
    inner_recon = inner(rec.grid[None], (32, 32))[0]
    assert torch.equal(rec.recon, inner_recon)               # the kept full decode, to the last bit


def test_a_warmed_up_server_shows_an_opened_tokenizers_first_screens_without_computing_them(tmp_path, monkeypatch):
    """`vq-explorer --open` computes every tab's first screen in the background as it starts: a visitor who
    opens the tokenizer afterwards costs no encode and no decode of a whole picture."""
    import threading

    from vq_explorer.ui import build_demo, open_checkpoint
    monkeypatch.setenv("VQE_VIEW_CACHE", str(tmp_path / "views"))
    torch.manual_seed(0)
    diffusers.VQModel(**SMALL_DIFFUSERS).save_pretrained(tmp_path / "m")
    model = vqe.open(str(tmp_path / "m"), side=32)
    model.examples = (torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(4)) * 255).to(torch.uint8)
    build_demo(tmp_path / "none", [model], warm=True)
    (warming,) = [t for t in threading.enumerate() if t.name == "vqe-warm-up"]
    warming.join(120)
    encodes = counted(model)
    decodes, inner = [], model.vqvae.decode
    model.vqvae.decode = lambda idx, size=None: (decodes.append(tuple(idx.shape[-2:])), inner(idx, size))[1]
    catalog = service.Catalog(tmp_path / "none")
    name = catalog.add(model, "tokenizer")
    views = open_checkpoint(catalog, name)
    assert views["reconstruction"] and views["painter"] and views["atlas"]
    assert encodes == [] and decodes == []
