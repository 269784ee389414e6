"""The tokenizers of autoregressive image models, opened as a user would (`vqe.open(folder)`): transformers'
JanusVQVAE, Emu3VQVAE and ChameleonVQVAE saved with `save_pretrained` (a tiny configuration and the published
ones, random weights), the VQ-VAE inside a sharded whole multimodal model (only its shards read; from the Hub only
its byte ranges), and LlamaGen's VQ against its reference implementation. Codes and decodes are the library's
own, to float tolerance."""


import json
import shutil
from pathlib import Path

import pytest
import torch

import vq_explorer as vqe
from vq_explorer.ui.words import describe

ROOT = Path(__file__).resolve().parents[1]

transformers = pytest.importorskip("transformers")
FAMILY_WORDS = {"janus": "a Janus VQ-VAE", "emu3": "an Emu3 VQ-VAE", "chameleon": "a Chameleon VQ-VAE"}

# Janus-Pro's vq_config: LlamaGen's VQ-16 (deepseek-ai/Janus-Pro-1B and -7B config.json: gen_vision_config
# "VQ-16", image_token_size 16384, n_embed 8), converted by transformers' convert_janus_weights_to_hf.py into
# JanusVQVAEConfig's defaults with embed_dim 8 and num_embeddings 16384 (f = 16, 128 base channels, ch_mult
# 1,1,2,2,4, 256 latent channels); num_patches only sizes `decode`'s input.
JANUS_PRO = {"embed_dim": 8, "num_embeddings": 16384, "latent_channels": 256, "base_channels": 128,
             "channel_multiplier": [1, 1, 2, 2, 4], "num_res_blocks": 2}
# Emu3's VQ-VAE (baaivision/Emu3, emu3/tokenizer/configuration_emu3visionvq.py, "the VQ model presented in Emu3
# paper"): K = 32,768, 4-dimensional codes, 256 base channels, ch_mult 1,2,2,4 (f = 8), attention at level 3,
# a temporal window of 4 frames
EMU3 = {"codebook_size": 32768, "embed_dim": 4, "latent_channels": 4, "base_channels": 256,
        "channel_multiplier": [1, 2, 2, 4], "num_res_blocks": 2, "attn_resolutions": [3],
        "temporal_downsample_factor": 4, "hidden_size": 1024, "num_attention_heads": 1}
# Chameleon's VQ-VAE (transformers' ChameleonVQVAEConfig defaults, those of facebook/chameleon-7b): K = 8,192,
# 256-dimensional codes, f = 16, no decoder
CHAMELEON = {"embed_dim": 256, "num_embeddings": 8192, "latent_channels": 256, "base_channels": 128,
             "channel_multiplier": [1, 1, 2, 2, 4], "num_res_blocks": 2}
TINY_JANUS = {"embed_dim": 4, "num_embeddings": 64, "latent_channels": 16, "base_channels": 32,
              "channel_multiplier": [1, 2], "num_res_blocks": 1}
TINY_EMU3 = {"codebook_size": 64, "embed_dim": 4, "latent_channels": 4, "base_channels": 32,
             "channel_multiplier": [1, 2], "num_res_blocks": 1, "attn_resolutions": [1],
             "temporal_downsample_factor": 4, "hidden_size": 64, "num_attention_heads": 1}
TINY_CHAMELEON = {"embed_dim": 4, "num_embeddings": 64, "latent_channels": 4, "base_channels": 32,
                  "channel_multiplier": [1, 2], "num_res_blocks": 1, "resolution": 16}


def vq_of(family, config, side, seed=0):
    torch.manual_seed(seed)
    if family == "janus":
        return transformers.JanusVQVAE(transformers.JanusVQVAEConfig(**config, num_patches=side // 2 ** (
            len(config["channel_multiplier"]) - 1))).eval()
    if family == "emu3":
        return transformers.Emu3VQVAE(transformers.Emu3VQVAEConfig(**config)).eval()
    return transformers.ChameleonVQVAE(transformers.ChameleonVQVAEConfig(**config)).eval()


def own_codes_and_decode(family, vq, x):
    """What the library itself gives: its encode's image tokens, and its decode of them ([0, 1])."""
    b = x.shape[0]
    with torch.no_grad():
        if family == "emu3":
            codes = torch.stack(list(vq.encode(x * 2 - 1, torch.tensor([list(x.shape[-2:])] * b)).image_tokens))
            return codes, (vq.decode(codes) + 1) / 2
        out = vq.encode(x * 2 - 1)
        f = 2 ** (len(vq.config.channel_multiplier) - 1)
        codes = out.image_tokens.view(b, x.shape[-2] // f, x.shape[-1] // f)
        if family == "chameleon":
            return codes, None
        return codes, (vq.decode(codes.view(b, -1)) + 1) / 2


SLOW = pytest.mark.slow


@pytest.mark.parametrize("family,config,side", [
    ("janus", TINY_JANUS, 16), pytest.param("janus", JANUS_PRO, 64, marks=SLOW), ("emu3", TINY_EMU3, 16),
    pytest.param("emu3", EMU3, 16, marks=SLOW), ("chameleon", TINY_CHAMELEON, 16),
    pytest.param("chameleon", CHAMELEON, 32, marks=SLOW)],
    ids=["janus-tiny", "janus-pro", "emu3-tiny", "emu3", "chameleon-tiny", "chameleon"])
def test_codes_and_decodes_are_the_librarys_own(tmp_path, family, config, side):
    vq = vq_of(family, config, side)
    vq.save_pretrained(tmp_path / "vq")
    model = vqe.open(str(tmp_path / "vq"), side=side)
    num_codes = config.get("codebook_size", config.get("num_embeddings"))
    f = 2 ** (len(config["channel_multiplier"]) - 1)
    assert model.config["num_codes"] == num_codes and model.config["downsample"] == f
    assert model.config["code_dim"] == config["embed_dim"] and model.prior is None
    x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    grid = model.encode(x)
    codes, decoded = own_codes_and_decode(family, vq, x)
    assert torch.equal(grid, codes)                               # the indices the library's quantizer picks
    # the panel's nearest codes for the encoder's vectors are the grid's
    z = model.vqvae.encode_continuous(x)
    assert torch.equal(model.vqvae.codes(z), grid)
    if decoded is None:             # no decoder: a flat grey picture, and the description says so
        assert (model.decode(grid) == 0.5).all() and model.config["tokenizer"]["decoder"] is False
        assert "no decoder" in describe(model)
        return
    assert model.config["tokenizer"]["decoder"] is True and FAMILY_WORDS[family] in describe(model)
    assert torch.allclose(model.decode(grid), decoded.clamp(0, 1), atol=1e-5)
    if family == "janus":           # any grid size, not only num_patches²: the same steps as JanusVQVAE.decode
        small = model.decode(grid[:, : side // f // 2, : side // f // 2])
        assert small.shape == (2, 3, side // 2, side // 2)


# A whole Janus model at a tiny configuration, saved in shards of 1 MB: its language model's embedding fills shards
# of its own, which hold no VQ-VAE tensor.
WHOLE_JANUS = {
    "text_config": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": 16000},
    "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                      "image_size": 128, "patch_size": 16, "projection_dim": 64},
    "vq_config": {**TINY_JANUS, "num_patches": 8, "projection_dim": 64, "image_token_embed_dim": 64},
    "image_token_id": 15999}


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    torch.manual_seed(0)
    model = transformers.JanusForConditionalGeneration(transformers.JanusConfig(**WHOLE_JANUS)).eval()
    folder = tmp_path_factory.mktemp("whole") / "janus"
    model.save_pretrained(folder, max_shard_size="1MB")
    return model.model.vqmodel, folder


def shards(folder):
    weight_map = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]
    with_vq = {f for k, f in weight_map.items() if ".vqmodel." in k}
    return with_vq, set(weight_map.values()) - with_vq


def test_a_whole_models_tokenizer_opens_alone_with_the_vqmodels_codes_and_decodes(whole):
    vq, folder = whole
    model = vqe.open(str(folder), side=16)
    assert model.config["num_codes"] == 64 and model.config["tokenizer"]["family"] == "Janus VQ-VAE"
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    codes, decoded = own_codes_and_decode("janus", vq, x)
    assert torch.equal(model.encode(x), codes)
    assert torch.allclose(model.decode(codes), decoded.clamp(0, 1), atol=1e-5)
    assert sum(p.numel() for p in model.vqvae.parameters()) == sum(p.numel() for p in vq.parameters())


def test_shards_without_vq_tensors_are_never_read_garbage_in_them_changes_nothing(whole, tmp_path):
    vq, folder = whole
    with_vq, without = shards(folder)
    assert with_vq and without                              # the layout the test needs
    copy = tmp_path / "janus"
    shutil.copytree(folder, copy)
    for name in without:                                    # same size, no safetensors header, no tensors
        size = (copy / name).stat().st_size
        (copy / name).write_bytes(b"\xff" * size)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(vqe.open(str(copy), side=16).encode(x), own_codes_and_decode("janus", vq, x)[0])
    for name in without:                                    # or gone altogether
        (copy / name).unlink()
    assert torch.equal(vqe.open(str(copy), side=16).encode(x), own_codes_and_decode("janus", vq, x)[0])


class FakeHubFiles:
    """huggingface_hub.HfFileSystem at the network boundary: serves a folder as repository `repo_id` at commit
    `commit`, and counts the bytes each range request returns."""

    def __init__(self, root, repo_id, commit):
        self.root, self.repo_id, self.commit, self.served, self.requests = root, repo_id, commit, 0, []

    def _path(self, path):
        at = f"{self.repo_id}@{self.commit}/"     # the files are read at the commit the config came from
        assert path.startswith(at), path
        return self.root / path[len(at):]

    def exists(self, path):
        return self._path(path).is_file()

    def cat_file(self, path, start=None, end=None):
        if not self._path(path).is_file():
            raise FileNotFoundError(path)
        data = self._path(path).read_bytes()[start:end]
        self.served += len(data)
        self.requests.append((path.rsplit("/", 1)[-1], start, end))
        return data


def fake_hub(monkeypatch, folder, repo_id, tmp_path, commit="c0ffee" * 6 + "abcd"):
    """hf_hub_download hands over the one small file it is asked for, into a cache laid out as huggingface_hub's
    (snapshots/<commit>/); HfFileSystem serves byte ranges; a whole snapshot is never asked for."""
    import huggingface_hub
    fs = FakeHubFiles(folder, repo_id, commit)
    asked = []

    def hf_hub_download(repo, filename, subfolder=None, revision=None, cache_dir=None, **kw):
        assert repo == repo_id and revision in (None, commit)
        asked.append(filename)
        if not (folder / filename).is_file():
            raise huggingface_hub.errors.EntryNotFoundError(filename)
        out = tmp_path / "cache" / repo.replace("/", "--") / "snapshots" / commit / filename
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / filename, out)
        return str(out)

    def snapshot_download(*a, **k):
        raise AssertionError("a whole snapshot is never asked for")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(huggingface_hub, "HfFileSystem", lambda *a, **k: fs)
    return fs, asked


def test_from_the_hub_only_the_vq_tensors_byte_ranges_are_fetched(whole, tmp_path, monkeypatch):
    vq, folder = whole
    fs, asked = fake_hub(monkeypatch, folder, "someone/janus-tiny", tmp_path)
    model = vqe.open("hf://someone/janus-tiny", side=16)
    assert asked == ["config.json", "model.safetensors.index.json"]           # no shard downloaded whole
    assert model.config["tokenizer"]["revision"] == fs.commit                 # recorded: reopened at that commit
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    assert torch.equal(model.encode(x), own_codes_and_decode("janus", vq, x)[0])
    with_vq, without = shards(folder)
    assert {name for name, *_ in fs.requests} == with_vq                      # shards without VQ: not one byte
    vq_bytes = sum(p.numel() * p.element_size() for p in vq.state_dict().values())
    headers = sum(end - start for name, start, end in fs.requests if end == 8 or start == 8)
    assert fs.served - headers == vq_bytes                                     # the VQ-VAE's tensors, nothing else
    assert fs.served < sum((folder / f).stat().st_size for f in with_vq)      # less than its shards whole


# LlamaGen's VQ-16 as released (vq_ds16_c2i.pt: ModelArgs' defaults) and a tiny one of two levels
LLAMAGEN_VQ16 = {"codebook_size": 16384, "codebook_embed_dim": 8, "codebook_l2_norm": True,
                 "encoder_ch_mult": [1, 1, 2, 2, 4], "decoder_ch_mult": [1, 1, 2, 2, 4], "z_channels": 256}
LLAMAGEN_TINY = {"codebook_size": 64, "codebook_embed_dim": 4, "codebook_l2_norm": True,
                 "encoder_ch_mult": [1, 2], "decoder_ch_mult": [1, 2], "z_channels": 32}


def llamagen_reference(args, seed=0):
    """LlamaGen's own VQModel (the MIT-licensed copy in tuimg), with random weights whose codebook rows have
    norms far from 1, so that its l2 normalisation matters."""
    ref = pytest.importorskip("tuimg.vendor.llamagen_vq")
    torch.manual_seed(seed)
    model = ref.VQModel(ref.ModelArgs(**args)).eval()
    with torch.no_grad():
        model.quantize.embedding.weight.mul_(torch.rand(args["codebook_size"], 1) * 3 + 0.1)
    return model


def llamagen_folder(folder, model, args):
    from safetensors.torch import save_file
    folder.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(args))
    return folder


@pytest.mark.parametrize("args,side", [(LLAMAGEN_TINY, 16), pytest.param(LLAMAGEN_VQ16, 64, marks=SLOW)],
                         ids=["tiny", "vq-16"])
def test_llamagen_codes_and_decodes_are_the_reference_implementations(tmp_path, args, side):
    ref = llamagen_reference(args)
    model = vqe.open(str(llamagen_folder(tmp_path / "llamagen", ref, args)), side=side)
    f = 2 ** (len(args["encoder_ch_mult"]) - 1)
    assert model.config["num_codes"] == args["codebook_size"] and model.config["downsample"] == f
    assert model.config["tokenizer"]["family"] == "LlamaGen VQ"
    x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        _, _, (_, _, idx) = ref.encode(x * 2 - 1)
        codes = idx.view(2, side // f, side // f)
        own = (ref.decode_code(idx, shape=(2, args["codebook_embed_dim"], side // f, side // f)) + 1) / 2
    assert torch.equal(model.encode(x), codes)
    assert torch.allclose(model.decode(codes), own.clamp(0, 1), atol=1e-5)
    # the quantization panel's nearest codes are LlamaGen's too
    assert torch.equal(model.vqvae.codes(model.vqvae.encode_continuous(x)), codes)


class Payload:
    """A pickle that runs code when unpickled by a plain loader."""

    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('RAN').write_text('ran')",))


def test_a_released_pt_is_converted_through_the_weights_only_loader_and_opens(tmp_path, monkeypatch, capsys):
    """`vq-explorer-convert SRC.pt DEST --family llamagen --preset VQ-8`: the state dict under "model", as LlamaGen
    saves it, becomes a folder that opens with the reference's codes; weights that fit another preset, and a
    pickle the weights-only loader refuses (its code never runs), are each refused in one line."""
    from vq_explorer.commands import convert
    args = {**PRESETS_VQ8, "codebook_size": 64, "codebook_embed_dim": 4}
    ref = llamagen_reference(args)
    torch.save({"model": ref.state_dict(), "optimizer": {"step": 3}}, tmp_path / "vq.pt")
    convert.main([str(tmp_path / "vq.pt"), str(tmp_path / "out"), "--family", "llamagen", "--preset", "VQ-8",
                  "--codebook-size", "64", "--codebook-embed-dim", "4"])
    assert json.loads((tmp_path / "out" / "config.json").read_text()) == args
    model = vqe.open(str(tmp_path / "out"), side=16)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        codes = ref.encode(x * 2 - 1)[2][2].view(1, 2, 2)
    assert torch.equal(model.encode(x), codes)

    monkeypatch.chdir(tmp_path)
    torch.save({"model": Payload()}, tmp_path / "evil.pt", _use_new_zipfile_serialization=True)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    for src, preset, words in [("vq.pt", "VQ-16", "do not fit"), ("evil.pt", "VQ-16", "weights-only loader"),
                               ("text.pt", "VQ-16", "weights-only loader"), ("none.pt", "VQ-8", "no such file")]:
        with pytest.raises(SystemExit) as stop:
            convert.main([src, "dest", "--family", "llamagen", "--preset", preset])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "RAN").exists() and not (tmp_path / "dest" / "model.safetensors").exists()


PRESETS_VQ8 = {"codebook_size": 16384, "codebook_embed_dim": 8, "codebook_l2_norm": True,
               "encoder_ch_mult": [1, 2, 2, 4], "decoder_ch_mult": [1, 2, 2, 4], "z_channels": 256}


def fsq_or_lfq_model(kind, seed=0):
    """A small encoder and decoder around vector-quantize-pytorch's FSQ (levels 8,8,8,5,5,5: 64,000 codes) or
    LFQ (16 bits: 65,536 codes), with a projection in and out (8 channels to 6 or 16 numbers)."""
    vqp = pytest.importorskip("vector_quantize_pytorch")
    torch.manual_seed(seed)
    quantizer = (vqp.FSQ(levels=[8, 8, 8, 5, 5, 5], dim=8) if kind == "fsq" else
                 vqp.LFQ(dim=8, codebook_size=2 ** 16, entropy_loss_weight=0.0)).eval()
    encoder = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 4, 2, 1), torch.nn.ReLU(),
                                  torch.nn.Conv2d(16, 8, 4, 2, 1))
    decoder = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 16, 4, 2, 1), torch.nn.ReLU(),
                                  torch.nn.ConvTranspose2d(16, 3, 4, 2, 1), torch.nn.Sigmoid())

    def decode(codes):
        with torch.no_grad():
            return decoder(quantizer.indices_to_codes(codes))

    def own_codes(x):
        with torch.no_grad():
            return quantizer(encoder(x))[1]

    model = vqe.wrap(encode=encoder, decode=decode, codebook=quantizer, downsample=4, name=kind, side=32,
                     modules=[encoder, decoder], examples=ROOT / "docs" / "photos")
    return model, own_codes, quantizer


@pytest.mark.parametrize("kind,num_codes,dims", [("fsq", 64000, 6), ("lfq", 2 ** 16, 16)])
def test_an_fsq_or_lfq_model_wrapped_keeps_its_own_codes_with_an_implicit_codebook(kind, num_codes, dims):
    from vq_explorer import service
    from vq_explorer.service import quantization
    model, own_codes, quantizer = fsq_or_lfq_model(kind)
    assert model.config["num_codes"] == num_codes and model.config["code_dim"] == dims
    own = model.vqvae.quantizer.buffers(recurse=False)     # (the module's own buffers aside)
    assert not any(t.numel() >= num_codes * dims for t in own)   # no K × d table
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    grid = model.encode(x)
    assert grid.shape == (2, 8, 8) and torch.equal(grid, own_codes(x).long())
    assert model.decode(grid).shape == (2, 3, 32, 32)
    # neighbours: one level step or one bit flip away, each differing from the code in one dimension by one step
    cb = model.vqvae.quantizer
    code = int(grid[0, 0, 0])
    near, dist = service.nearest_codes(model, code, 50)
    assert len(near) <= 2 * dims and (dist > 0).all()
    for k in near.tolist():
        diff = (cb.digits(torch.tensor(k)) - cb.digits(torch.tensor(code))).abs()
        assert int(diff.sum()) == 1
    assert sorted(near.tolist()) == sorted(cb.neighbours(code).tolist())
    # the atlas draws the codes seen, ranked by usage (the others are counted, not drawn); the map is theirs
    u = service.usage(model)
    used = int((u > 0).sum())
    assert service.atlas_pages(model) == -(-used // service.ATLAS_MAX)
    assert service.atlas_span(model, 1)[1] == min(used, 1024)
    assert sorted(service.atlas_codes(model, 1).tolist()) == sorted(torch.nonzero(u).flatten().tolist()[:1024])
    xy = service.code_map(model)
    assert xy.shape == (num_codes, 2) and (xy[u == 0] == 0).all()
    # the quantization panel: each dimension's distance to its rounding boundary, and the grid is the model's
    q = quantization.quantization(model, x[:1])
    assert q.fsq and torch.equal(q.grid, grid[0])
    c = quantization.cell(model, q, 0, 0)
    assert len(c["to_flip"]) == dims and all(0 <= t <= 0.5 for t in c["to_flip"]) and c["codes"][0] == code
    if len(c["codes"]) > 1:                           # the runner-up is one flip away, on the nearest dimension
        diff = cb.digits(torch.tensor(c["codes"][1])) - cb.digits(torch.tensor(code))
        assert int(diff.abs().sum()) == 1 and int(diff.abs().argmax()) == c["flip_dim"]


MEMORY_SCRIPT = """
import resource, sys, time
import torch
import vq_explorer as vqe
from vq_explorer import service
from vq_explorer.ui import codebook, open_checkpoint
from vector_quantize_pytorch import LFQ
torch.manual_seed(0)
lfq = LFQ(dim=8, codebook_size=2 ** 18, entropy_loss_weight=0.0).eval()
enc = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 4, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(16, 8, 4, 2, 1))
dec = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 16, 4, 2, 1), torch.nn.ReLU(),
                          torch.nn.ConvTranspose2d(16, 3, 4, 2, 1), torch.nn.Sigmoid())
model = vqe.wrap(enc, lambda c: dec(lfq.indices_to_codes(c)), codebook=lfq, downsample=4, side=32,
                 examples=sys.argv[1], modules=[enc, dec])
model.encode(torch.rand(1, 3, 32, 32))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
catalog = service.Catalog("nowhere")
name = catalog.add(model, "lfq18")
open_checkpoint(catalog, name)                  # every tab's views
codebook.stats(catalog, name)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(model.config["num_codes"], (after - before) / 1024)
"""


@pytest.mark.slow
def test_every_tab_of_an_lfq_of_2_to_the_18_codes_fits_in_200_mb_above_the_model(tmp_path):
    """K = 262,144 codes of 18 bits: every tab's views opened, in a process of its own, raise its peak memory by
    less than 200 MB (a K × K or N × K table would not fit; measured 34 MB)."""
    import subprocess
    import sys
    from pathlib import Path
    pytest.importorskip("vector_quantize_pytorch")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(root / "docs" / "photos")], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    codes, megabytes = out.stdout.split()
    assert int(codes) == 2 ** 18 and float(megabytes) < 200, megabytes


def test_bad_sources_each_get_one_line_and_the_server_serves_the_rest(whole, tmp_path, capsys):
    _, folder = whole
    with_vq, without = shards(folder)

    def copy(name, change=None):
        out = tmp_path / name
        shutil.copytree(folder, out)
        if change:
            change(out)
        return out

    def set_config(out, **fields):
        config = json.loads((out / "config.json").read_text())
        (out / "config.json").write_text(json.dumps({**config, **fields}))

    def index(out, edit):
        data = json.loads((out / "model.safetensors.index.json").read_text())
        edit(data["weight_map"])
        (out / "model.safetensors.index.json").write_text(json.dumps(data))

    def to_bin(out):
        for p in out.glob("*.safetensors*"):
            p.rename(p.with_name(p.name.replace("model", "pytorch_model").replace("safetensors", "bin")))

    one_vq_shard = sorted(with_vq)[0]
    cases = [
        (copy("llava", lambda o: set_config(o, model_type="llava")), "holds a 'llava' model"),
        (copy("novq", lambda o: set_config(o, vq_config=None)), "without a vq_config"),
        (copy("noprefix", lambda o: index(o, lambda m: [m.pop(k) for k in list(m) if "vqmodel" in k])),
         "without VQ-VAE tensors"),
        (copy("missing", lambda o: (o / one_vq_shard).unlink()), "not there (a missing shard)"),
        (copy("elsewhere", lambda o: index(o, lambda m: m.update({k: "w.bin" for k in m if "vqmodel" in k}))),
         "no safetensors file"),
        (copy("unfit", lambda o: set_config(o, vq_config={**WHOLE_JANUS["vq_config"], "num_embeddings": 99})),
         "do not fit"),
        (copy("pickled", to_bin), "never unpickles"),
        (copy("remote", lambda o: set_config(o, auto_map={"AutoModel": "modeling.M"})), "own code"),
    ]
    for source, words in cases:
        with pytest.raises(vqe.TokenizerError, match=words.replace("(", r"\(").replace(")", r"\)")) as e:
            vqe.open(str(source), side=16)
        assert "\n" not in str(e.value) and "Traceback" not in str(e.value)
    from vq_explorer.commands.serve import open_tokenizers
    models = open_tokenizers([str(cases[0][0]), str(folder), str(cases[3][0])], 16, None)
    assert len(models) == 1 and models[0].config["tokenizer"]["family"] == "Janus VQ-VAE"
    err = capsys.readouterr().err
    assert err.count("not opened") == 2 and "Traceback" not in err


@pytest.mark.parametrize("given", [{"levels": [8, 5, 5, 5]}, {"bits": 16}], ids=["levels", "bits"])
def test_levels_or_bits_given_instead_of_a_module_round_as_fsq_and_lfq_do(given):
    """`vqe.wrap(..., levels=[…])` or `bits=N`: the codes are FSQ's rounding of the bounded latents and LFQ's
    signs, numbered as vector-quantize-pytorch numbers them (its modules on the same latents agree)."""
    vqp = pytest.importorskip("vector_quantize_pytorch")
    dims = len(given["levels"]) if "levels" in given else given["bits"]
    torch.manual_seed(0)
    encoder = torch.nn.Conv2d(3, dims, 4, 4)
    decoder = torch.nn.ConvTranspose2d(dims, 3, 4, 4)
    reference = (vqp.FSQ(levels=given["levels"]) if "levels" in given else
                 vqp.LFQ(dim=dims, codebook_size=2 ** dims, entropy_loss_weight=0.0)).eval()
    model = vqe.wrap(encoder, lambda codes: decoder(model.vqvae.quantizer.lookup(codes).permute(0, 3, 1, 2)),
                     downsample=4, side=32, modules=[encoder, decoder], **given)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        own = reference(encoder(x))[1].long()
    assert torch.equal(model.encode(x), own) and model.config["num_codes"] == reference.codebook_size
    assert model.decode(own).shape == (2, 3, 32, 32)
    with torch.no_grad():                 # codes back to vectors as the module maps them
        vectors = reference.indices_to_codes(own).permute(0, 2, 3, 1)
        assert torch.allclose(model.vqvae.quantizer.lookup(own), vectors)
    with pytest.raises(vqe.TokenizerError, match="one codebook"):
        vqe.wrap(encoder, decoder, codebook=torch.zeros(4, 2), downsample=4, **given)
