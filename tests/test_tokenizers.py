"""Tokenizers made elsewhere: diffusers VQModels (a tiny one and two at the configurations their authors
published, with random weights: nothing is downloaded) and a vector-quantize-pytorch model wrapped with
`vqe.wrap`. Their codes are their own, every tab's handlers open them, and every bad source gets one line."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import said, states, words
from PIL import Image

import vq_explorer as vqe
from vq_explorer import service
from vq_explorer.storage import tokenizers as T

diffusers = pytest.importorskip("diffusers")

TINY = {"down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
        "block_out_channels": [32, 64], "layers_per_block": 1, "latent_channels": 4, "num_vq_embeddings": 64,
        "norm_num_groups": 8, "vq_embed_dim": 4}
TINY_CONFIG_GREY = {**TINY, "in_channels": 1, "out_channels": 1}
# CompVis/ldm-celebahq-256, subfolder vqvae: latent diffusion's VQ-f4 (config.json of that repository; the
# taming-transformers config it converts: embed_dim 3, n_embed 8192, ch 128, ch_mult [1, 2, 4], 2 res blocks)
LDM_VQ_F4 = {"block_out_channels": [128, 256, 512], "down_block_types": ["DownEncoderBlock2D"] * 3,
             "up_block_types": ["UpDecoderBlock2D"] * 3, "in_channels": 3, "out_channels": 3, "latent_channels": 3,
             "layers_per_block": 2, "norm_num_groups": 32, "num_vq_embeddings": 8192, "sample_size": 256,
             "vq_embed_dim": 3, "act_fn": "silu"}
# kandinsky-community/kandinsky-2-2-decoder, subfolder movq: Kandinsky's MoVQ, f = 8, K = 16,384, its decoder
# normalised spatially by the quantized latents (norm_type "spatial")
MOVQ = {"block_out_channels": [128, 256, 256, 512],
        "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D",
                             "AttnDownEncoderBlock2D"],
        "up_block_types": ["AttnUpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
        "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
        "norm_type": "spatial", "num_vq_embeddings": 16384, "sample_size": 32, "vq_embed_dim": 4,
        "act_fn": "silu"}
# amused/amused-256, subfolder vqvae: aMUSEd's VQGAN (diffusers' scripts/convert_amused.py), f = 16, K = 8,192,
# 64-dimensional codes, and a decode that looks its codes up itself (lookup_from_codebook)
AMUSED = {"block_out_channels": [128, 256, 256, 512, 768], "down_block_types": ["DownEncoderBlock2D"] * 5,
          "up_block_types": ["UpDecoderBlock2D"] * 5, "in_channels": 3, "out_channels": 3, "latent_channels": 64,
          "layers_per_block": 2, "norm_num_groups": 32, "num_vq_embeddings": 8192, "sample_size": 32,
          "mid_block_add_attention": False, "lookup_from_codebook": True, "act_fn": "silu"}


def saved(folder, config, seed=0):
    torch.manual_seed(seed)
    vq = diffusers.VQModel(**config)
    vq.save_pretrained(folder)     # config.json + diffusion_pytorch_model.safetensors
    return vq.eval()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny") / "vqvae"
    return saved(folder, TINY), folder


@pytest.mark.parametrize("config,factor,side",
                         [(TINY, 2, 32), (LDM_VQ_F4, 4, 32), (MOVQ, 8, 32), (AMUSED, 16, 48)],
                         ids=["tiny", "ldm-vq-f4", "movq", "amused"])
def test_codes_and_decodes_are_diffusers_own(tmp_path, config, factor, side):
    vq = saved(tmp_path / "m", config)
    model = vqe.open(str(tmp_path / "m"), side=side)
    assert model.config["downsample"] == factor and model.config["num_codes"] == config["num_vq_embeddings"]
    assert model.grid == (side // factor, side // factor) and model.prior is None
    x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    grid = model.encode(x)
    with torch.no_grad():
        h = vq.encode(x * 2 - 1).latents
        quant, _, (_, _, idx) = vq.quantize(h)
        assert torch.equal(grid, idx.view(grid.shape))               # the indices diffusers' quantizer picks
        if config.get("lookup_from_codebook"):                       # its decode takes the codes themselves
            shape = (*grid.shape, vq.quantize.embedding.weight.shape[1])
            own = (vq.decode(idx, force_not_quantize=True, shape=shape).sample + 1) / 2
        else:                                                        # its decoder on the quantized latents
            own = (vq.decode(quant, force_not_quantize=True).sample + 1) / 2
        again = (vq.decode(h).sample + 1) / 2                        # and VQModel.decode quantizing by itself
    out = model.decode(grid)
    assert torch.allclose(out, own.clamp(0, 1), atol=1e-4) and torch.allclose(out, again.clamp(0, 1), atol=1e-4)
    # a photo-sized input that is no multiple of the factor: padded, and cropped back to its size
    odd = model.decode(model.encode(torch.rand(1, 3, side + 3, side - 1)), (side + 3, side - 1))
    assert odd.shape == (1, 3, side + 3, side - 1)


def test_every_tabs_handlers_open_a_tokenizer(tiny, tmp_path):
    """The selector lists it beside the checkpoints; Reconstruct (with its error map and the quantization panel),
    Paint, Codebook and Sample (which says it needs a prior) all fill from it."""
    from vq_explorer.ui import codebook, open_checkpoint, paint, reconstruct, sample
    model = vqe.open(str(tiny[1]), side=32, examples="docs/photos")
    catalog = service.Catalog(tmp_path / "none")
    name = catalog.add(model, model.config["dataset"])
    assert catalog.names() == [name] and catalog.get(name) is model and name.endswith("vqvae")
    views = open_checkpoint(catalog, name)
    assert "no-prior" in states(views["about"]) and "diffusers VQModel" in words(views["about"])
    assert model.examples.shape == (4, 3, 32, 32)            # the repository's photos, as its first examples
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), np.uint8)).save(photo)
    out = reconstruct.reconstruct(catalog, str(photo), name)
    summary, grid_json = out[5], json.loads(out[6])
    assert "no-prior" in states(summary) and np.array(grid_json["grid"]).shape == (12, 16)   # 56×40 → 32×23, f = 2
    hist, *_ = paint.import_grid(catalog, out[6], name)
    assert np.array(hist["grid"]).shape == (12, 16)
    stats, usage, code_map, head = codebook.stats(catalog, name)
    assert stats["num_codes"] == 64 and len(code_map.data) >= 1 and codebook.atlas(catalog, name)
    first = sample.first_screen(catalog, name)
    assert first[0] is None and states(first[3]) == {"no-prior"}
    with said("needs_prior", what="sampling"):
        list(sample.sample(catalog, name, "(any)", 1.0, 0, 1, 1, "instant"))


class FakeHub:
    """huggingface_hub's calls (the network boundary), over repositories laid out as folders, one folder per
    commit; `main` names the newest. Files land in a cache laid out as huggingface_hub's
    (`…/snapshots/<commit>/<path>`); every call is recorded."""

    def __init__(self, cache):
        self.cache, self.repos, self.asked = cache, {}, []

    def add(self, repo_id, commit, files: dict):
        """files: path in the repository → a local file to copy (or bytes)."""
        self.repos.setdefault(repo_id, {})[commit] = files
        self.repos[repo_id]["main"] = commit

    def _commit(self, repo_id, revision):
        import huggingface_hub
        if repo_id not in self.repos:
            raise huggingface_hub.errors.RepositoryNotFoundError(f"{repo_id}: 404")
        commits = self.repos[repo_id]
        if revision in (None, "main"):
            return commits["main"]
        return next(c for c in commits if c.startswith(revision))      # a commit, or its first digits

    def hf_hub_download(self, repo_id, filename, *, subfolder=None, revision=None, cache_dir=None, **kw):
        import huggingface_hub
        path = f"{subfolder}/{filename}" if subfolder else filename
        self.asked.append(("download", repo_id, path, revision))
        commit = self._commit(repo_id, revision)
        files = self.repos[repo_id].get(commit, {})
        if path not in files:
            raise huggingface_hub.errors.EntryNotFoundError(f"{path} not in {repo_id}")
        out = self.cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / commit / path
        out.parent.mkdir(parents=True, exist_ok=True)
        src = files[path]
        out.write_bytes(src if isinstance(src, bytes) else src.read_bytes())
        return str(out)

    def list_repo_files(self, repo_id, *, revision=None, **kw):
        self.asked.append(("list", repo_id, None, revision))
        return sorted(self.repos[repo_id][self._commit(repo_id, revision)])

    def snapshot_download(self, *a, **k):
        raise AssertionError("a whole snapshot is never asked for")

    def install(self, monkeypatch):
        import huggingface_hub
        for name in ("hf_hub_download", "list_repo_files", "snapshot_download"):
            monkeypatch.setattr(huggingface_hub, name, getattr(self, name))
        return self


def _repository(tiny, tmp_path) -> dict:
    """A repository of several models, as latent diffusion's are: a VQModel in vqvae/ with an fp16 variant and a
    pickled copy beside its safetensors, a UNet in unet/, no config at the root."""
    unet = tmp_path / "unet_config.json"
    unet.write_text(json.dumps({"_class_name": "UNet2DModel"}))
    return {"vqvae/config.json": tiny[1] / "config.json", f"vqvae/{T.WEIGHTS}": tiny[1] / T.WEIGHTS,
            "vqvae/diffusion_pytorch_model.fp16.safetensors": b"a variant: never fetched",
            "vqvae/diffusion_pytorch_model.bin": b"pickle: never fetched",
            "unet/config.json": unet, f"unet/{T.WEIGHTS}": b"a UNet: never fetched",
            "model_index.json": b"{}", "pickled/config.json": tiny[1] / "config.json",
            "pickled/diffusion_pytorch_model.bin": b"pickle: never fetched"}


def test_a_hub_id_fetches_its_config_then_exactly_the_weights_diffusers_loads(tiny, tmp_path, monkeypatch):
    hub = FakeHub(tmp_path / "cache").install(monkeypatch)
    hub.add("someone/tokenizers", "a1" * 20, _repository(tiny, tmp_path))
    model = vqe.open("hf://someone/tokenizers/vqvae", side=32)
    assert hub.asked == [("download", "someone/tokenizers", "vqvae/config.json", None),
                         ("download", "someone/tokenizers", f"vqvae/{T.WEIGHTS}", None)]   # no variant, no UNet
    assert model.config["dataset"] == "someone/tokenizers/vqvae"
    assert model.config["tokenizer"]["sha256"] == T.sha256(tiny[1] / T.WEIGHTS)
    assert model.config["tokenizer"]["revision"] == "a1" * 20                  # the commit it was fetched at
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(model.encode(x), vqe.open(str(tiny[1]), side=32).encode(x))
    hub.asked.clear()
    vqe.open("hf://someone/tokenizers@a1a1a1/vqvae", side=32)                  # a revision of one's choosing
    assert {revision for *_, revision in hub.asked} == {"a1a1a1"}


def test_a_hub_repository_without_a_root_config_is_refused_naming_its_subfolders(tiny, tmp_path, monkeypatch):
    """Before any weights: the root's config is asked for, then the file list (no download) names the folders
    that hold one. A UNet's config stops at its class; a folder with only a pickle is named as such."""
    hub = FakeHub(tmp_path / "cache").install(monkeypatch)
    hub.add("CompVis/ldm-celebahq-256", "b2" * 20, _repository(tiny, tmp_path))
    with pytest.raises(T.TokenizerError, match="folders holding one are pickled, unet, vqvae") as e:
        vqe.open("hf://CompVis/ldm-celebahq-256")
    assert "hf://CompVis/ldm-celebahq-256/pickled" in str(e.value)
    assert hub.asked == [("download", "CompVis/ldm-celebahq-256", "config.json", None),
                         ("list", "CompVis/ldm-celebahq-256", None, None)]
    hub.asked.clear()
    with pytest.raises(T.TokenizerError, match="UNet2DModel, not a VQModel"):
        vqe.open("hf://CompVis/ldm-celebahq-256/unet")
    assert [path for _, _, path, _ in hub.asked] == ["unet/config.json"]
    hub.asked.clear()
    with pytest.raises(T.TokenizerError, match="never unpickles"):
        vqe.open("hf://CompVis/ldm-celebahq-256/pickled")
    assert [kind for kind, *_ in hub.asked] == ["download", "download", "list"]
    assert not any(path.endswith(".bin") for _, _, path, _ in hub.asked if path)


def test_a_mistyped_local_path_is_no_such_file_and_never_a_hub_lookup(tmp_path, monkeypatch):
    hub = FakeHub(tmp_path / "cache").install(monkeypatch)
    for source in ("checkpoints/mnsit.safetensors", "~/x/y", "./tok/vqvae", "/no/such/folder", "docs/no/such",
                   "tests/fixtures/nothing"):
        with pytest.raises(T.TokenizerError, match="no such file or folder"):
            vqe.open(source)
    assert hub.asked == []

    def offline(*a, **kw):
        import huggingface_hub
        raise huggingface_hub.errors.LocalEntryNotFoundError("no connection and nothing cached")
    monkeypatch.setattr("huggingface_hub.hf_hub_download", offline)
    with pytest.raises(T.TokenizerError, match="cannot be reached"):
        vqe.open("hf://someone/other/vqvae")


def test_only_a_folder_or_a_hub_id_is_taken_for_a_tokenizer(tiny, tmp_path, monkeypatch):
    """`--vqvae-from` sends a tokenizer to the tokenizer path and anything else to the checkpoint loader, whose
    message names the file: a file of any suffix, or a mistyped path, is no tokenizer."""
    hub = FakeHub(tmp_path / "cache").install(monkeypatch)
    (tmp_path / "weights.bin").write_bytes(b"x")
    (tmp_path / "ckpt.safetensors").write_bytes(b"x")
    folder = tiny[1]
    for source in (folder, str(folder), "hf://owner/name", "owner/name/vqvae", "hf://owner/name@abc/vqvae"):
        assert T.is_tokenizer(source), source
    for source in (tmp_path / "weights.bin", tmp_path / "ckpt.safetensors", "checkpoints/mnsit.safetensors",
                   "./tok/vqvae", tmp_path / "missing", "no_such.pt", ""):
        assert not T.is_tokenizer(source), source
    assert hub.asked == []


def test_a_prior_over_a_hub_tokenizer_reopens_it_at_the_commit_it_was_trained_on(tiny, tmp_path, monkeypatch):
    """The checkpoint records the commit; when the repository's newest weights change, loading still fetches the
    recorded one (and the weights' SHA-256 agrees). A prior whose config is out of bounds is refused before the
    tokenizer is fetched."""
    from safetensors.torch import save_file

    from vq_explorer.models.config import PriorConfig, asdict
    from vq_explorer.models.priors import build_prior
    hub = FakeHub(tmp_path / "cache").install(monkeypatch)
    first = _repository(tiny, tmp_path)
    hub.add("someone/tok", "c3" * 20, first)
    model = vqe.open("hf://someone/tok/vqvae", side=32)
    cfg = PriorConfig(num_codes=64, channels=8, layers=2)
    model.prior = build_prior(cfg).eval()
    model.config["prior"] = asdict(cfg)
    vqe.save(model, tmp_path / "p.safetensors")
    other = saved(tmp_path / "newer", TINY, seed=5)
    assert other is not None
    hub.add("someone/tok", "d4" * 20, {**first, f"vqvae/{T.WEIGHTS}": tmp_path / "newer" / T.WEIGHTS})
    hub.asked.clear()
    m = vqe.load(tmp_path / "p.safetensors", device="cpu")
    assert m.prior is not None and {revision for *_, revision in hub.asked} == {"c3" * 20}
    assert vqe.open("hf://someone/tok/vqvae", side=32).config["tokenizer"]["revision"] == "d4" * 20
    config = {**model.config, "prior": {**asdict(cfg), "kernel": 17}}      # beyond the bound of 15
    save_file({}, tmp_path / "huge.safetensors", {"format": "vq-explorer/1", "config": json.dumps(config)})
    hub.asked.clear()
    with pytest.raises(vqe.CheckpointError, match="kernel=17 is out of range"):
        vqe.load(tmp_path / "huge.safetensors", device="cpu")
    assert hub.asked == []


def test_bad_tokenizer_sources_each_get_one_line(tiny, tmp_path):
    other = tmp_path / "kl"
    diffusers.AutoencoderKL(block_out_channels=(32,), norm_num_groups=8, latent_channels=4).save_pretrained(other)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(tiny[1] / "config.json", pickled / "config.json")
    (pickled / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04 a pickle")
    broken = tmp_path / "broken"
    shutil.copytree(tiny[1], broken)
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "num_vq_embeddings": 99}))
    for source, message in [("", "no tokenizer named"), ("nonsense", "neither a folder here nor a Hub id"),
                            (str(tmp_path), "no config.json"), (str(other), "AutoencoderKL, not a VQModel"),
                            (str(pickled), "never unpickles"), (str(broken), "do not load")]:
        with pytest.raises(T.TokenizerError, match=message):
            vqe.open(source)


def test_the_server_opens_what_it_can_and_says_what_it_could_not(tiny, capsys):
    from vq_explorer.commands.serve import open_tokenizers
    models = open_tokenizers([str(tiny[1]), "nowhere/at/all"], 32, None)
    assert len(models) == 1 and models[0].config["num_codes"] == 64
    err = capsys.readouterr().err
    assert "opened" in err and "not opened" in err and "Traceback" not in err


def test_a_vector_quantize_pytorch_model_wrapped_opens_in_the_app():
    """`VectorQuantize` between a small encoder and decoder, given to the app as three functions."""
    vqp = pytest.importorskip("vector_quantize_pytorch")
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 4, 2, 1), torch.nn.ReLU(),
                                  torch.nn.Conv2d(16, 8, 4, 2, 1))
    decoder = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 16, 4, 2, 1), torch.nn.ReLU(),
                                  torch.nn.ConvTranspose2d(16, 3, 4, 2, 1), torch.nn.Sigmoid())
    vq = vqp.VectorQuantize(dim=8, codebook_size=32, accept_image_fmap=True).eval()

    def encode(x):              # its codes: what VectorQuantize itself picks
        with torch.no_grad():
            return vq(encoder(x))[1]

    def decode(codes):
        with torch.no_grad():
            return decoder(vq.get_output_from_indices(codes))        # (B, d, h, w) for image feature maps

    model = vqe.wrap(encode, decode, vq.codebook, downsample=4, name="vqp", side=32,
                     modules=[encoder, decoder, vq])
    x = torch.rand(2, 3, 32, 32)
    grid = model.encode(x)
    assert grid.shape == (2, 8, 8) and torch.equal(grid, vq(encoder(x))[1])
    assert model.decode(grid).shape == (2, 3, 32, 32)
    assert model.config["num_codes"] == 32 and model.config["tokenizer"]["kind"] == "python"
    rec = service.reconstruct(model, x[:1])
    assert rec.grid.shape == (8, 8) and not rec.has_prior and 0 < rec.mse < 1
    assert service.code_map(model).shape == (32, 2) and service.tiles(model).shape == (32, 3, 4, 4)
    from vq_explorer.ui import build_demo
    demo = build_demo("nowhere", models=[model])
    assert demo is not None


def test_the_painters_palette_decodes_only_the_codes_it_shows(tiny, tmp_path, monkeypatch):
    """A palette of a few codes decodes those looks, not all 64; once every look is cached it reads them from
    there, and both ways give the same pictures."""
    monkeypatch.setenv("VQE_VIEW_CACHE", str(tmp_path / "views"))   # no looks kept on disk by earlier tests
    model = vqe.open(str(tiny[1]), side=32, examples="docs/photos")
    calls = []
    decode = model.decode
    model.decode = lambda grids, size=None: calls.append(len(grids)) or decode(grids, size)
    few = service.tiles_of(model, [5, 1, 9])
    assert calls == [3] and few.shape == (3, 3, 2, 2)
    every = service.tiles(model)                     # the atlas: all 64, cached for the model
    calls.clear()
    assert torch.equal(service.tiles_of(model, [5, 1, 9]), every[[5, 1, 9]]) and calls == []
    assert torch.allclose(few, every[[5, 1, 9]], atol=1e-6)


def test_a_large_codebooks_atlas_is_paged_by_usage_and_a_click_names_the_code_on_its_page(tiny, monkeypatch):
    """Beyond ATLAS_MAX codes the atlas is paged: every code once, ranked by usage (the first page the most used,
    the last the never used), each page decoding only its own codes; a click on the i-th tile of page p names
    the i-th code of that page; a page that does not exist is refused with a message."""
    import gradio as gr

    from vq_explorer.service import codebook as cb
    from vq_explorer.ui import codebook
    monkeypatch.setattr(cb, "ATLAS_MAX", 16)
    model = vqe.open(str(tiny[1]), side=32, examples="docs/photos")
    catalog = service.Catalog("nowhere")
    name = catalog.add(model, "tiny")
    u = service.usage(model)
    assert service.atlas_pages(model) == 4
    pages = [service.atlas_codes(model, p) for p in (1, 2, 3, 4)]
    ranked = torch.cat(pages)
    assert sorted(ranked.tolist()) == list(range(64))                      # every code, once
    assert (u[ranked][:-1] >= u[ranked][1:]).all() and u[ranked][0] == u.max()
    assert int(u[pages[-1]].max()) <= int(u[pages[0]].min())
    assert service.telling_code(model) in pages[0].tolist()
    assert cb.tiles.cache.get(model) is None   # 16 looks, not 64
    picture, chooser = codebook.atlas_view(catalog, name)
    assert picture and chooser["visible"] and "page 1 of 4: codes ranked 1–16 of 64" in chooser["label"]
    assert "33–48" in codebook.atlas_page(catalog, name, 3)[1]["label"]
    pitch = codebook.ATLAS_PX + 1
    for page in (1, 3):
        for i in (0, 5, 15):
            event = gr.SelectData(None, {"index": [(i % codebook.ATLAS_COLS) * pitch + 3, 3], "value": None})
            assert codebook.select_tile(catalog, name, page, event)[0] == int(pages[page - 1][i])
    for page in (0, 5):
        with said("atlas_page_out_of_range", page=page, pages=4):
            codebook.atlas_page(catalog, name, page)
    monkeypatch.setattr(cb, "ATLAS_MAX", 1024)
    assert not codebook.atlas_view(catalog, name)[1]["visible"]            # one page: no chooser
    assert service.atlas_codes(model).tolist() == list(range(64))               # by index, as before


def test_usage_counted_over_the_visitors_own_images(tiny):
    """The Codebook tab counts usage over the images this visitor reconstructed: each reconstructed grid added to
    the session's tally, the summary of exactly those codes, per model, and a plain word when there are none."""
    import json

    from vq_explorer.ui import codebook
    model = vqe.open(str(tiny[1]), side=32)
    catalog = service.Catalog("nowhere")
    name = catalog.add(model, "tiny")
    other = catalog.add(vqe.open(str(tiny[1]), side=32), "other")
    grids = [torch.randint(0, 64, (8, 8), generator=torch.Generator().manual_seed(s)) for s in (1, 2)]
    mine = {}
    for g in grids:
        before = json.dumps(mine)
        mine = codebook.count_visitor_codes(catalog, name, service.grid_json(g, name), mine)
        assert json.dumps(json.loads(before)) == before                   # a new tally, the old one unchanged
    counts, images = service.tally_counts(mine, name, 64)
    assert images == 2 and torch.equal(counts, torch.bincount(torch.cat([g.flatten() for g in grids]),
                                                              minlength=64))
    summary, _, _, head = codebook.stats(catalog, name, True, codebook.OVER_VISITOR, mine)
    assert summary["cells"] == 128 and summary["counted_over"] == {"images": 2, "of": "your images"}
    assert summary["used_codes"] == int((counts > 0).sum()) and "visitor-codes" in states(head)
    assert summary["most_used"][0]["count"] == int(counts.max())
    summary, _, _, head = codebook.stats(catalog, other, True, codebook.OVER_VISITOR, mine)   # another's: none
    assert summary["cells"] == 0 and summary["used_codes"] == 0 and "visitor-codes-empty" in states(head)
    assert codebook.stats(catalog, name, True, codebook.OVER_MODEL, mine)[0]["counted_over"]["of"] != "your images"
    assert codebook.visitor_codes_changed(catalog, name, True, codebook.OVER_VISITOR, mine)[0]["cells"] == 128
    with said("grid_code_out_of_range", code=64):
        codebook.count_visitor_codes(catalog, name, json.dumps({"grid": [[64] * 8] * 8}), mine)


def test_a_codes_nearest_codes_are_those_nearest_its_vector(tiny):
    """Brute force over the codebook: the five nearest other codes, nearest first, with their distances; the
    Codebook tab names them under the code."""
    from vq_explorer.ui import codebook
    model = vqe.open(str(tiny[1]), side=32)
    vectors = model.vqvae.quantizer.codebook.detach()
    near, dist = service.nearest_codes(model, 7, 5)
    brute = sorted((float((vectors[k] - vectors[7]).norm()), k) for k in range(64) if k != 7)[:5]
    assert near.tolist() == [k for _, k in brute] and dist.tolist() == pytest.approx([d for d, _ in brute])
    with said("code_out_of_range", code=64):
        service.nearest_codes(model, 64)
    catalog = service.Catalog("nowhere")
    name = catalog.add(model, "tiny")
    text = codebook.show_code(catalog, name, 7)[2]
    assert all(f"{k} (" in text for k in near.tolist())


@pytest.mark.slow
def test_a_prior_over_a_tokenizers_codes_names_it_reloads_with_it_and_refuses_another(tmp_path, mnist_1000):
    """train.py --vqvae-from <a diffusers VQModel folder>: its codes encoded once, a prior trained over them, a
    checkpoint that holds the prior alone and names the tokenizer by its weights' SHA-256; loading it opens
    both (surprise, bits and sampling then work), and a tokenizer whose weights changed is refused."""
    import subprocess
    import sys
    from pathlib import Path

    from conftest import TINY as TINY_FLAGS
    from conftest import save_digit_folder

    from vq_explorer.storage.checkpoint import read_checkpoint
    root = tmp_path
    digits = save_digit_folder(root / "digits", *mnist_1000, 200)
    grey = TINY_CONFIG_GREY
    vq = saved(root / "tok", grey)
    cmd = [sys.executable, "train.py", "--dataset", str(digits), "--name", "p", "--runs", str(root / "runs"),
           "--out", str(root / "p.safetensors"), *TINY_FLAGS, "--vqvae-from", str(root / "tok"),
           "--prior-epochs", "1"]
    out = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "not trained here" in out.stdout
    meta, tensors = read_checkpoint(root / "p.safetensors")
    assert not any(k.startswith("vqvae.") for k in tensors) and any(k.startswith("prior.") for k in tensors)
    named = meta["config"]["tokenizer"]
    assert named["source"] == str(root / "tok") and named["sha256"] == T.sha256(root / "tok" / T.WEIGHTS)
    m = vqe.load(root / "p.safetensors", device="cpu")
    assert m.grid == (14, 14) and m.config["num_codes"] == 64 and m.prior is not None
    x = mnist_1000[0][:2].float() / 255
    with torch.no_grad():
        idx = vq.quantize(vq.encode(x * 2 - 1).latents)[2][2]
    assert torch.equal(m.encode(x), idx.view(2, 14, 14))               # the tokenizer's own codes
    rec = service.reconstruct(m, x[:1])
    assert rec.has_prior and rec.exact and rec.total_bits > 0 and rec.surprise.shape == (14, 14)
    g = m.sample(2, labels=torch.tensor([3, 4]), seed=0)
    assert g.shape == (2, 14, 14) and m.decode(g).shape == (2, 1, 28, 28)
    saved(root / "tok", grey, seed=1)                                   # other weights in the same folder
    with pytest.raises(vqe.CheckpointError, match="weights differ"):
        vqe.load(root / "p.safetensors", device="cpu")


def test_a_tokenizer_opened_without_a_size_is_shown_images_at_128_pixels_on_a_cpu(tiny):
    """Without --size, a CPU shows a tokenizer 128-pixel images (a large one reconstructs them in about a second
    on two cores, against 5–6 s at 256: benchmarks/tokenizer_speed.py); a GPU 256."""
    from vq_explorer.commands.serve import open_tokenizers
    from vq_explorer.storage.tokenizers import default_side
    assert default_side("cpu") == 128 and default_side("cuda") == 256
    model = vqe.open(str(tiny[1]), device="cpu")
    assert model.config["image_size"] == [128, 128] and model.config["max_side"] == 128
    side = default_side()   # what `vq-explorer --open` without --size gives here
    assert open_tokenizers([str(tiny[1])], None, None)[0].config["image_size"] == [side, side]


def test_the_app_words_an_opened_tokenizer_as_one_never_as_a_lab_model(tiny):
    from vq_explorer.messages import error_text
    from vq_explorer.ui import paint, sample
    model = vqe.open(str(tiny[1]), side=32, examples="docs/photos")
    catalog = service.Catalog("nowhere")
    name = catalog.add(model, "tok")
    texts = [words(paint.reset(catalog, name)[4]), words(sample.first_screen(catalog, name)[3])]
    with said("needs_prior", made="tokenizer") as e:
        service.needs_prior(model, "inpainting")
    texts.append(error_text(e.value))
    for text in texts:
        assert "tokenizer" in text and "lab" not in text, text
