"""A tokenizer's codebook views kept on disk between starts (storage/views.py, service/views.py): the second
start reads them instead of decoding and encoding again; they are never used for other weights; the folder is
bounded and can be cleared."""

import shutil
from pathlib import Path

import pytest
import torch

import vq_explorer as vqe
from vq_explorer import service
from vq_explorer.service import views
from vq_explorer.storage.views import ViewCache

diffusers = pytest.importorskip("diffusers")
SMALL = {"down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
         "block_out_channels": [16, 32], "layers_per_block": 1, "latent_channels": 4, "num_vq_embeddings": 64,
         "norm_num_groups": 8, "vq_embed_dim": 4}


@pytest.fixture
def photos_dir():
    return Path(__file__).resolve().parents[1] / "docs" / "photos"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("VQE_VIEW_CACHE", str(tmp_path / "views"))
    return tmp_path / "views"


def saved(path, seed):
    torch.manual_seed(seed)
    diffusers.VQModel(**SMALL).save_pretrained(path)
    return path


def start(path, photos):
    """A fresh start: the tokenizer opened anew (nothing in memory), counting its decodes and encodes."""
    model = vqe.open(str(path), side=32, examples=photos)
    calls = {"decode": 0, "encode": 0}
    for what, method in (("decode", "decode"), ("encode", "encode_continuous")):   # every encode runs the latter
        inner = getattr(model.vqvae, method)

        def counted(*a, _inner=inner, _what=what, **k):
            calls[_what] += 1
            return _inner(*a, **k)
        setattr(model.vqvae, method, counted)
    return model, calls


def codebook_views(model):
    return (service.tiles_of(model, service.atlas_codes(model)), service.usage(model), service.code_map(model),
            service.telling_code(model))


def test_a_second_start_reads_the_codebook_views_from_disk(tmp_path, folder, photos_dir):
    path = saved(tmp_path / "m", 0)
    first, calls = start(path, photos_dir)
    a = codebook_views(first)
    assert calls["decode"] > 0 and calls["encode"] > 0 and any(folder.glob("*.safetensors"))
    second, calls = start(path, photos_dir)
    b = codebook_views(second)
    assert calls == {"decode": 0, "encode": 0}                          # nothing decoded or encoded again
    assert all(torch.equal(x, y) for x, y in zip(a[:3], b[:3], strict=True)) and a[3] == b[3]


def test_views_of_other_weights_are_never_used(tmp_path, folder, photos_dir):
    """Another model's files, even under this model's names, are refused: the full hash inside is checked."""
    mine, other = saved(tmp_path / "a", 0), saved(tmp_path / "b", 1)
    model_a, _ = start(mine, photos_dir)
    codebook_views(model_a)
    model_b, calls = start(other, photos_dir)
    assert views.key(model_b) != views.key(model_a)
    cache = ViewCache()
    for view in ("tiles", "usage", "map"):                              # A's views put where B's would be
        for a_path in folder.glob(f"{view}-*.safetensors"):
            shutil.copy(a_path, cache.path(views.view_key(model_b, view), view))
    got = codebook_views(model_b)
    assert calls["decode"] > 0 and calls["encode"] > 0
    fresh, _ = start(other, photos_dir)
    with pytest.MonkeyPatch.context() as m:
        m.setenv("VQE_VIEW_CACHE", "off")
        truth = codebook_views(fresh)
    assert all(torch.equal(x, y) for x, y in zip(got[:3], truth[:3], strict=True))


def test_the_folder_is_bounded_and_can_be_cleared(tmp_path):
    cache = ViewCache(tmp_path / "v", max_bytes=3000)
    for i in range(6):
        cache.put(f"{i:040d}", "usage", {"value": torch.zeros(200)})    # ~900 bytes each
    kept = sorted(p.name for p in (tmp_path / "v").glob("*.safetensors"))
    assert 1 <= len(kept) <= 3 and cache.size() <= 3000
    assert cache.get(f"{5:040d}", "usage") is not None and cache.get(f"{0:040d}", "usage") is None
    assert cache.clear() == len(kept) and cache.size() == 0


def test_the_cache_can_be_turned_off(tmp_path, folder, photos_dir, monkeypatch):
    monkeypatch.setenv("VQE_VIEW_CACHE", "off")
    model, _ = start(saved(tmp_path / "m", 0), photos_dir)
    codebook_views(model)
    assert not folder.exists()
