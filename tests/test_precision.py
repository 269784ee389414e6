"""bf16 where the hardware has it: which precision "auto" picks, the refusal of bf16 where it is missing, and a
quantizer that stays float32 under autocast (its distances, EMA sums and counts, k-means seeding, restarts)."""

import pytest
import torch
import torch.nn.functional as F

from vq_explorer.models import training
from vq_explorer.models.config import VQVAEConfig
from vq_explorer.models.fsq import FSQ
from vq_explorer.models.quantizer import VectorQuantizer
from vq_explorer.models.vqvae import VQVAE


def test_auto_picks_bf16_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: True)
    assert training.resolve_precision("auto", "cpu") == "bf16"
    assert training.resolve_precision("fp32", "cpu") == "fp32"
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: False)
    assert training.resolve_precision("auto", "cpu") == "fp32"
    with pytest.raises(ValueError, match="no bfloat16 arithmetic.*AVX512-BF16 or AMX"):
        training.resolve_precision("bf16", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        training.resolve_precision("fp16", "cpu")


def test_cpu_flags_decide(monkeypatch, tmp_path):
    """AVX-512 alone (where oneDNN would emulate bf16) is not enough; the bf16 flag is."""
    info = tmp_path / "cpuinfo"
    monkeypatch.setattr(training, "Path", lambda p: info if p == "/proc/cpuinfo" else p)
    info.write_text("model name\t: X\nflags\t\t: fpu sse avx2 avx512f avx512bw\n")
    assert not training.cpu_has_bf16()
    info.write_text("model name\t: X\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n")
    assert training.cpu_has_bf16()
    info.write_text("flags\t\t: fpu amx_bf16 amx_tile\n")
    assert training.cpu_has_bf16()


def test_train_py_refuses_bf16_where_the_cpu_lacks_it(monkeypatch, tmp_path):
    from test_train import _train_module
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)   # train.py's setup would change this process's
    with pytest.raises(SystemExit) as e:
        _train_module().main(["--dataset", "mnist", "--precision", "bf16", "--device", "cpu",
                              "--runs", str(tmp_path)])
    assert not any(tmp_path.iterdir())   # refused before anything was written
    assert "no bfloat16 arithmetic" in str(e.value) and "--precision fp32" in str(e.value)


@pytest.mark.parametrize("variant", ["ema+restart", "codebook-loss", "fsq"])
def test_under_autocast_the_quantizer_stays_float32_and_a_step_trains(variant):
    """The encoder and decoder run in bf16; what the quantizer returns and keeps is float32, and the step moves
    the weights. A k-means seeding and a code restart happen inside the autocast region."""
    torch.manual_seed(0)
    fsq = [8, 8, 8] if variant == "fsq" else []
    cfg = VQVAEConfig(channels=16, num_codes=512 if fsq else 64, code_dim=8, res_blocks=1, fsq_levels=fsq,
                      ema=variant == "ema+restart", dead_after=1)
    model = VQVAE(cfg)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)
    x = torch.rand(16, 1, 28, 28)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with training.autocast("cpu", "bf16"):
        z = model.encode_continuous(x)
        assert z.dtype == torch.bfloat16          # autocast is on: the conv ran in bf16
        q, idx, vq_loss = model.quantizer(z)
        out = model(x)
    assert q.dtype == torch.float32 and vq_loss.dtype == torch.float32 and idx.dtype == torch.int64
    assert out.recon.dtype == torch.float32 and out.loss.dtype == torch.float32
    opt.zero_grad()
    out.loss.backward()
    opt.step()
    quantizer = model.quantizer
    kept = [quantizer.usage] if isinstance(quantizer, FSQ) else \
        [quantizer.codebook, quantizer.ema_count, quantizer.ema_sum, quantizer.usage]
    assert all(t.dtype == torch.float32 for t in kept)
    if isinstance(quantizer, VectorQuantizer):
        assert bool(quantizer.initialised)                                   # k-means++ ran under autocast
        assert not torch.equal(before["quantizer.codebook"], quantizer.codebook)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(before[k], v)]
    assert any(k.startswith("encoder.") for k in changed) and any(k.startswith("decoder.") for k in changed)


def test_bf16_codes_match_fp32_codes_for_almost_every_cell():
    """The quantizer's argmin is computed on float32 inputs: bf16 only perturbs the encoder's output a little,
    so nearly every cell keeps its code (a bf16 argmin over the distances would flip many more)."""
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(channels=32, num_codes=64, code_dim=8, init="none")).eval()
    x = torch.rand(32, 1, 28, 28)
    with torch.no_grad():
        fp32 = model(x).indices
        with training.autocast("cpu", "bf16"):
            bf16 = model(x).indices
    assert (fp32 == bf16).float().mean() > 0.9


def test_the_training_loop_runs_its_step_under_the_precision_it_is_given():
    seen = []
    w = torch.nn.Parameter(torch.ones(4, 4))
    opt = torch.optim.SGD([w], 0.1)

    def step_fn(batch, step):
        y = batch @ w
        seen.append(y.dtype)
        return F.mse_loss(y.float(), torch.zeros(2, 4)), {}
    batches = [torch.ones(2, 4)] * 2
    bf16 = lambda: training.autocast("cpu", "bf16")   # noqa: E731
    list(training.steps(opt, step_fn, batches, precision=bf16))
    list(training.steps(opt, step_fn, batches))
    assert seen == [torch.bfloat16] * 2 + [torch.float32] * 2 and w.dtype == torch.float32
