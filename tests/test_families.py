"""The tokenizers of autoregressive image models, opened as a user would (`vqe.open(folder)`): transformers'
JanusVQVAE, Emu3VQVAE and ChameleonVQVAE saved with `save_pretrained` (a tiny configuration and the published
ones, random weights), the VQ-VAE inside a sharded whole multimodal model (only its shards read; from the Hub only
its byte ranges), and LlamaGen's VQ against its reference implementation. Codes and decodes are the library's
own, to float tolerance."""


import pytest
import torch

import vq_explorer as vqe

transformers = pytest.importorskip("transformers")

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
    if decoded is None:
        with pytest.raises(Exception, match="no decoder"):
            model.decode(grid)
        return
    assert torch.allclose(model.decode(grid), decoded.clamp(0, 1), atol=1e-5)
    if family == "janus":           # any grid size, not only num_patches²: the same steps as JanusVQVAE.decode
        small = model.decode(grid[:, : side // f // 2, : side // f // 2])
        assert small.shape == (2, 3, side // 2, side // 2)
