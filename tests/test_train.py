"""train.py end to end on a few hundred images with tiny models: seconds, not minutes."""

import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY, save_digit_folder
from safetensors.torch import load_file

import vq_explorer as vqe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits(tmp_path_factory, mnist_1000):
    """300 MNIST digits as a folder of PNGs, one sub-folder per class: the image-folder dataset path."""
    return save_digit_folder(tmp_path_factory.mktemp("digits"), *mnist_1000, 300)


def train(tmp, digits, *extra, check=True, background=False, env=None):
    cmd = [sys.executable, str(ROOT / "train.py"), "--dataset", str(digits), "--name", "d", "--runs",
           str(tmp / "runs"), "--out", str(tmp / "d.safetensors"), *TINY, *extra]
    env = {**os.environ, **(env or {})}   # test hooks (VQE_TEST_*) travel in the environment, not the flags
    if background:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env)
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    if check:
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out


def state_info(path) -> dict:
    """Read while train.py may be replacing the file: the product's reader opens it once."""
    from vq_explorer.storage.checkpoint import raw_metadata
    return json.loads(raw_metadata(path)["info"])


@pytest.mark.slow
def test_end_to_end_writes_a_loadable_checkpoint(tmp_path, digits):
    train(tmp_path, digits, "--epochs", "2")
    m = vqe.load(tmp_path / "d.safetensors", device="cpu")
    assert m.config["grid"] == [7, 7] and m.config["class_names"] == [str(i) for i in range(10)]
    # The recipe travels with the file: the exact command line, epochs, minutes per stage, the machine.
    t = m.config["train"]
    command = ["python", str(ROOT / "train.py"), "--dataset", str(digits), "--name", "d", "--runs",
               str(tmp_path / "runs"), "--out", str(tmp_path / "d.safetensors"), *TINY, "--epochs", "2"]
    assert t["commands"] == [shlex.join(command)], t
    assert t["vqvae_epochs"] == 2 and t["prior_epochs"] == 2 and t["vqvae_steps"] == 2 * (270 // 32), t
    assert 0 < t["vqvae_minutes"] < 5 and 0 < t["prior_minutes"] < 5, t
    assert t["encode_minutes"] is not None and t["export_minutes"] is not None, t
    assert 0 <= t["encode_minutes"] < 5 and 0 <= t["export_minutes"] < 5, t
    assert " × " in t["machine"], t   # "<CPU model>, 1 × 1 threads" or "1 × <GPU name>"
    assert m.examples.shape == (10, 1, 28, 28) and m.examples.dtype == torch.uint8
    for key in ("mse", "psnr", "perplexity", "bits_per_code", "bits_per_image", "dead_codes"):
        assert key in m.metrics
    g = m.sample(3, labels=torch.tensor([0, 1, 2]), seed=0)
    assert g.shape == (3, 7, 7) and m.decode(g).shape == (3, 1, 28, 28)
    run = tmp_path / "runs" / "d"
    for name in ("vqvae.safetensors", "prior.safetensors", "codes.safetensors", "metrics.jsonl", "curves.html",
                 "curves.png", "samples.png"):
        assert (run / name).exists(), name
    codes = load_file(str(run / "codes.safetensors"))
    assert codes["train_codes"].shape[1:] == (7, 7) and len(codes["test_codes"]) > 0
    rows = [json.loads(line) for line in open(run / "metrics.jsonl")]
    assert {r["stage"] for r in rows} == {"vqvae", "prior"} and any(r.get("split") == "test" for r in rows)

    # A Transformer prior over the same VQ-VAE: identical VQ-VAE weights and codes, both commands recorded.
    extra = ["--vqvae-from", str(tmp_path / "d.safetensors"), "--prior", "transformer", "--prior-dim", "16",
             "--prior-heads", "2", "--prior-layers", "2", "--epochs", "1"]
    cmd = [sys.executable, str(ROOT / "train.py"), "--dataset", str(digits), "--name", "t", "--runs",
           str(tmp_path / "runs"), "--out", str(tmp_path / "t.safetensors"), *TINY, *extra]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "not trained here" in out.stdout
    t2 = vqe.load(tmp_path / "t.safetensors", device="cpu")
    assert t2.config["prior"]["type"] == "transformer" and type(t2.prior).__name__ == "GridTransformer"
    assert all(torch.equal(a, b) for a, b in zip(m.vqvae.state_dict().values(), t2.vqvae.state_dict().values(),
                                                 strict=True))
    codes2 = load_file(str(tmp_path / "runs" / "t" / "codes.safetensors"))
    assert torch.equal(codes2["train_codes"], codes["train_codes"])
    record = t2.config["train"]
    assert len(record["commands"]) == 2 and t["commands"][0] in record["commands"], record
    assert record["vqvae_epochs"] == 2 and record["prior_epochs"] == 1, record


def test_the_training_loop_learns_on_its_cosine_schedule(tmp_path, digits):
    """A stage's loop: the loss falls, and each step's learning rate is the cosine of the share of the budget spent
    when it began (80 steps here: 10 epochs of 8), as metrics.jsonl logs it every 20 steps."""
    train(tmp_path, digits, "--stage", "vqvae", "--epochs", "10", "--lr", "3e-3")
    rows = [json.loads(line) for line in (tmp_path / "runs" / "d" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if r.get("stage") == "vqvae" and "lr" in r]
    assert [r["step"] for r in steps] == [20, 40, 60, 80]
    for r in steps:   # the rate of step r["step"], which began with r["step"] − 1 of the 80 done
        assert r["lr"] == pytest.approx(3e-3 * 0.5 * (1 + math.cos(math.pi * (r["step"] - 1) / 80)), rel=1e-9)
    assert steps[-1]["mse"] < 0.7 * steps[0]["mse"], (steps[0]["mse"], steps[-1]["mse"])
    assert state_info(tmp_path / "runs" / "d" / "vqvae.safetensors")["step"] == 80


def _interrupt_then_resume(tmp_path, digits, how):
    state = tmp_path / "runs" / "d" / "vqvae.safetensors"
    proc = train(tmp_path, digits, "--stage", "vqvae", "--epochs", "40", "--save-every", "0", background=True)
    deadline = time.time() + 120
    while not (state.exists() and state_info(state)["step"] >= 20) and time.time() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, how)
    out, _ = proc.communicate(timeout=60)
    stopped = state_info(state)
    assert not stopped["done"] and 0 < stopped["step"] < 40 * 8, stopped
    if how != signal.SIGKILL:
        assert proc.returncode == 130 and "saving and stopping" in out
    resumed = train(tmp_path, digits, "--stage", "vqvae", "--epochs", "40", "--save-every", "5", "--resume")
    assert f"resuming at step {stopped['step']}" in resumed.stdout
    final = state_info(state)
    assert final["done"] and final["step"] == 40 * (270 // 32)   # 270 training images, batches of 32


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_interrupted_run_resumes_from_its_saved_step(tmp_path, digits, how):
    _interrupt_then_resume(tmp_path, digits, how)


@pytest.mark.slow
def test_a_state_saved_by_an_earlier_version_resumes_to_the_uninterrupted_weights(tmp_path, digits):
    """tests/fixtures/state_before_refactor_vqvae.safetensors: this tiny recipe's VQ-VAE paused at step 7 of 16
    by train.py before its flags were generated from the configs and its loop split up. Resumed by today's
    train.py it ends where an uninterrupted run ends: the state's format and the command line's meaning are
    unchanged. The fixture's first 7 steps were rounded by another machine's kernels (the same instruction set is
    not enough: an Intel and an AMD CPU that both report AVX-512 round float32 convolutions differently), so the
    weights agree only to float32 rounding grown over the 9 steps after it (at most 1.9e-4 on weights up to 0.26,
    an Intel Xeon against a fixture from an AMD EPYC). Bit identity of a resumed run on one machine is
    test_rebuild's."""
    import shutil
    args = ["--stage", "vqvae", "--epochs", "2", "--precision", "fp32", "--dead-after", "2",
            "--save-every", "1000"]
    train(tmp_path / "whole", digits, *args)
    state = tmp_path / "resumed" / "runs" / "d" / "vqvae.safetensors"
    state.parent.mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "fixtures" / "state_before_refactor_vqvae.safetensors", state)
    out = train(tmp_path / "resumed", digits, *args, "--resume")
    assert "resuming at step 7" in out.stdout
    whole, resumed = (load_file(str(tmp_path / d / "runs" / "d" / "vqvae.safetensors"))
                      for d in ("whole", "resumed"))
    assert whole.keys() == resumed.keys()
    assert all(whole[k].dtype == resumed[k].dtype and whole[k].shape == resumed[k].shape for k in whole)
    networks = [k for k in whole if k.startswith(("model.encoder", "model.decoder"))]
    assert networks and all(torch.allclose(whole[k], resumed[k], rtol=0, atol=5e-4) for k in networks)
    assert torch.allclose(whole["model.quantizer.codebook"], resumed["model.quantizer.codebook"], atol=1e-3)
    assert state_info(state)["done"] and state_info(state)["step"] == 16


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_the_last_good_state(tmp_path, digits):
    out = train(tmp_path, digits, "--stage", "vqvae", "--epochs", "2", "--save-every", "0", check=False,
                env={"VQE_TEST_NAN_AT": "5"})
    assert out.returncode == 1 and "loss became nan at step 5" in out.stderr
    state = tmp_path / "runs" / "d" / "vqvae.safetensors"
    assert state_info(state)["step"] == 5   # saved after step 4 finished; the NaN step was never applied
    assert all(torch.isfinite(v).all() for v in load_file(str(state)).values() if v.is_floating_point())


def _torchrun(tmp, digits, *extra, env=None):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "train.py"), "--dataset", str(digits), "--name", "d", "--runs", str(tmp / "runs"),
           "--out", str(tmp / "d.safetensors"), *TINY, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VQE_TEST_DUMP_RANK_STATE": "1", **(env or {})}
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out


@pytest.mark.slow
def test_torchrun_two_processes_keep_identical_weights_and_codebooks(tmp_path, digits):
    _torchrun(tmp_path, digits, "--epochs", "2", "--dead-after", "2")
    run = tmp_path / "runs" / "d"
    for stage in ("vqvae", "prior"):
        a, b = (load_file(str(run / f"{stage}.rank{r}.safetensors")) for r in (0, 1))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{stage}: {k} differs between ranks"
    a = load_file(str(run / "vqvae.rank0.safetensors"))
    assert a["quantizer.initialised"] and a["quantizer.ema_count"].sum() > 0
    assert vqe.load(tmp_path / "d.safetensors", device="cpu").config["grid"] == [7, 7]


@pytest.mark.slow
def test_torchrun_paused_and_resumed_ends_where_the_uninterrupted_run_ends(tmp_path, digits):
    """Each of torchrun's processes draws its own label dropout from its own generator. A paused prior stage
    keeps every rank's generator state, and the resumed ranks go on drawing what they would have drawn, so
    the weights equal the uninterrupted run's. Restoring rank 0's state on every rank makes the ranks draw the
    same dropout after the resume, and the weights differ."""
    import shutil
    _torchrun(tmp_path / "whole", digits, "--stage", "vqvae", "--epochs", "1")
    train(tmp_path / "whole", digits, "--stage", "encode", "--epochs", "1")
    shutil.copytree(tmp_path / "whole", tmp_path / "paused")
    prior = ["--stage", "prior", "--epochs", "3", "--label-dropout", "0.5", "--save-every", "1000"]
    _torchrun(tmp_path / "whole", digits, *prior)
    out = _torchrun(tmp_path / "paused", digits, *prior, "--stop-after-minutes", "0.05",
                    env={"VQE_TEST_THROTTLE": "0.5"})
    state = tmp_path / "paused" / "runs" / "d" / "prior.safetensors"
    paused = state_info(state)
    assert "paused at step" in out.stdout and not paused["done"] and paused["step"] < 3 * 4, out.stdout
    rngs = load_file(str(state))
    assert not torch.equal(rngs["rng.cpu"], rngs["rng.cpu.rank1"])   # each rank's own generator
    resumed = _torchrun(tmp_path / "paused", digits, *prior, "--resume")
    assert f"resuming at step {paused['step']}" in resumed.stdout
    for r in (0, 1):
        a, b = (load_file(str(tmp_path / d / "runs" / "d" / f"prior.rank{r}.safetensors"))
                for d in ("whole", "paused"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"rank {r} differs"


# --- flags and configs --------------------------------------------------------------------------------------
def _train_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Data:
    channels, class_names = 1, [str(i) for i in range(10)]


# Fields that come from the data or the VQ-VAE, not from a flag of their own.
DERIVED = {"type", "in_channels", "num_codes", "num_classes", "rows", "cols"}


def _flag(name: str, prior: bool) -> str:
    return ("--prior-" if prior else "--") + name.replace("_", "-")


def test_without_flags_every_config_is_its_dataclass_default():
    """train.py's flags cannot disagree with config.py: with no flags, each config is exactly its dataclass's
    defaults (K, classes and grid aside, which come from the VQ-VAE and the data)."""
    from vq_explorer.models.config import PRIOR_CONFIGS, VQVAEConfig
    t = _train_module()
    args = t.parse_args([])
    assert t.vq_config(args, _Data) == VQVAEConfig(in_channels=1)
    for family, cls in PRIOR_CONFIGS.items():
        args = t.parse_args(["--prior", family])
        got = t.prior_config(args, _Data, 512, (7, 7))
        derived = {k: v for k, v in dict(num_codes=512, num_classes=10, rows=7, cols=7).items()
                   if k in {f.name for f in __import__("dataclasses").fields(cls)}}
        assert got == cls(**derived), family


def test_every_config_field_has_a_flag_that_sets_it():
    from dataclasses import fields

    from vq_explorer.models.config import PRIOR_CONFIGS, VQVAEConfig
    t = _train_module()
    for cls, family in [(VQVAEConfig, None), *((c, f) for f, c in PRIOR_CONFIGS.items())]:
        for f in fields(cls):
            if f.name in DERIVED:
                continue
            base = ["--prior", family] if family else []
            if isinstance(f.default, bool):
                flag = _flag(f.name, family is not None) if not f.default else "--no-" + f.name.replace("_", "-")
                argv, want = [*base, flag], not f.default
            elif f.name == "fsq_levels":          # K = 256 by default: 8·8·4
                argv, want = [*base, "--fsq-levels", "8", "8", "4"], [8, 8, 4]
            else:
                other = {"init": "random", "gradient": "rotation"}.get(f.name) or \
                    (f.default + 2 if isinstance(f.default, int) else f.default * 0.5)
                argv, want = [*base, _flag(f.name, family is not None), str(other)], other
            args = t.parse_args(argv)
            cfg = t.prior_config(args, _Data, 512, (7, 7)) if family else t.vq_config(args, _Data)
            got = getattr(cfg, f.name)
            assert got == (want if isinstance(want, str | list) else pytest.approx(want)), (cls.__name__, f.name)


def test_each_named_quantizer_sets_its_fields():
    from vq_explorer.models.config import QUANTIZERS, VQVAEConfig
    t = _train_module()
    for name in QUANTIZERS:
        cfg = t.vq_config(t.parse_args(["--quantizer", name, "--num-codes", "512"]), _Data)
        assert cfg.fsq_levels == ([8, 8, 8] if name == "fsq" else []) and cfg.num_codes == 512
        assert cfg.gradient == ("rotation" if name == "rotation" else "ste")
        if name != "fsq":
            assert (cfg.ema, cfg.init, cfg.restart_dead) == (name.startswith("ema"), "kmeans++" if "kmeans" in name
                                                             else "none", name.endswith("restart")), name
    assert t.vq_config(t.parse_args([]), _Data) == VQVAEConfig(in_channels=1)   # no variant: the defaults
    with pytest.raises(SystemExit, match="make 64 codes"):
        t.vq_config(t.parse_args(["--fsq-levels", "4", "4", "4"]), _Data)
