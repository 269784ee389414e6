"""Decoding in bfloat16 (`--precision`, VQModel.precision): the codes stay the tokenizer's float32 ones whatever
the precision and whatever autocast a caller runs under; the pictures are near the float32 ones."""

import argparse

import pytest
import torch

import vq_explorer as vqe
from vq_explorer.commands import serve
from vq_explorer.models.training import cpu_has_bf16

diffusers = pytest.importorskip("diffusers")
SMALL = {"down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
         "block_out_channels": [16, 32], "layers_per_block": 1, "latent_channels": 4, "num_vq_embeddings": 64,
         "norm_num_groups": 8, "vq_embed_dim": 4}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "m"
    torch.manual_seed(0)
    diffusers.VQModel(**SMALL).save_pretrained(path)
    return vqe.open(str(path), side=32)


def test_codes_under_bf16_equal_the_float32_codes(model):
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    fp32 = model.encode(x)
    model.precision = "bf16"
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):      # even inside a caller's autocast
            assert torch.equal(model.encode(x), fp32)
        grid = fp32
        pictures = model.decode(grid)
    finally:
        model.precision = "fp32"
    exact = model.decode(grid)
    assert pictures.dtype == torch.float32 and not torch.equal(pictures, exact)     # decoded in bfloat16 ...
    assert (pictures - exact).abs().mean() < 0.02                                    # ... and near float32


def test_serve_resolves_the_precision_from_the_cpu():
    ap = argparse.ArgumentParser()
    assert serve.decode_precision(ap, "fp32") == "fp32"
    assert serve.decode_precision(ap, "auto") == ("bf16" if cpu_has_bf16() else "fp32")
    if not cpu_has_bf16():
        with pytest.raises(SystemExit):
            serve.decode_precision(ap, "bf16")                 # refused with the reason, not run slowly
