"""What a public Space and a long training run meet: the cases of the robustness issue that the other test files
do not already cover (uploads: test_explorer.py; grids: test_explorer.py; checkpoint files: test_checkpoint.py;
SIGTERM/kill -9 in the VQ-VAE stage and NaN: test_train.py)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_tiny_model
from PIL import Image

import vq_explorer as vqe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rgb_model(tmp_path, monkeypatch):
    from vq_explorer import explorer as ex
    vqe.save(make_tiny_model(classes=None, channels=3, image_size=(16, 16)), tmp_path / "rgb.safetensors")
    monkeypatch.setattr(ex, "CHECKPOINTS", tmp_path)
    return ex, ex.get_model("rgb.safetensors")


def test_greyscale_image_for_a_colour_model(rgb_model, tmp_path):
    ex, model = rgb_model
    p = tmp_path / "grey.png"
    Image.new("L", (16, 16), 77).save(p)
    rec = ex.reconstruct_file(model, str(p))
    assert rec.original.shape == (3, 16, 16) and any("converted to RGB" in n for n in rec.notes)
    assert torch.allclose(rec.original[0], rec.original[2])


def test_colour_drawing_for_a_colour_model(rgb_model):
    ex, model = rgb_model
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[10:30, 10:30] = (255, 0, 0, 255)
    x, _ = ex.drawing_to_input(model, rgba)
    assert x.shape == (1, 3, 16, 16) and x[0, 0].max() > 0.9 and x[0, 1].min() < 0.1


def test_checkpoint_selector_refuses_paths(explorer, ckpt_dir):
    import gradio as gr

    from vq_explorer.ui import reconstruct
    p = ckpt_dir.parent / "x.png"
    Image.new("L", (28, 28)).save(p)
    for name in ("../tiny.safetensors", str(ckpt_dir / "tiny.safetensors"), "tiny", "tiny.safetensors/.."):
        with pytest.raises(gr.Error, match="unknown checkpoint"):
            reconstruct.reconstruct(str(p), name)


def test_failed_training_state_write_keeps_the_previous_state(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT))
    import train as train_script
    from vq_explorer import checkpoint
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    path = tmp_path / "vqvae.safetensors"
    train_script.save_state(path, model, opt, {"step": 1})
    before = path.read_bytes()

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(checkpoint, "save_file", disk_full)
    with pytest.raises(OSError, match="No space"):
        train_script.save_state(path, model, opt, {"step": 2})
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1
    info = train_script.load_state(path, torch.nn.Linear(3, 2), torch.optim.Adam(model.parameters()))
    assert info["step"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_prior_stage_interrupted_then_resumed(tmp_path, mnist_1000, how):
    """Stop the prior stage partway (Ctrl-C or kill -9), resume it, and the exported checkpoint is valid."""
    x, y = mnist_1000
    data = tmp_path / "digits"
    for i in range(200):
        (data / str(int(y[i]))).mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i, 0].numpy()).save(data / str(int(y[i])) / f"{i}.png")
    base = [sys.executable, str(ROOT / "train.py"), "--dataset", str(data), "--runs", str(tmp_path / "runs"),
            "--name", "d", "--out", str(tmp_path / "d.safetensors"), "--in-channels", "1", "--image-size", "28",
            "--channels", "16", "--res-blocks", "1", "--num-codes", "32", "--code-dim", "8",
            "--prior-channels", "16", "--prior-layers", "3", "--batch-size", "16", "--threads", "1",
            "--vqvae-epochs", "1", "--prior-epochs", "60", "--save-every", "0"]
    first = subprocess.run(base + ["--stage", "vqvae"], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    assert subprocess.run(base + ["--stage", "encode"], capture_output=True, timeout=120).returncode == 0
    state = tmp_path / "runs" / "d" / "prior.safetensors"
    proc = subprocess.Popen(base + ["--stage", "prior"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5 + np.random.default_rng().random())          # a random moment after the first save
    os.kill(proc.pid, how)
    proc.wait(timeout=60)
    from vq_explorer.checkpoint import raw_metadata
    stopped = json.loads(raw_metadata(state)["info"])
    assert not stopped["done"]
    resumed = subprocess.run(base + ["--stage", "prior", "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and f"resuming at step {stopped['step']}" in resumed.stdout, resumed.stderr
    export = subprocess.run(base + ["--stage", "export"], capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr[-2000:]
    m = vqe.load(tmp_path / "d.safetensors", device="cpu")
    assert m.sample(2, labels=torch.tensor([0, 1]), seed=0).shape == (2, 7, 7)


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "checkpoints" / "mnist.safetensors").exists(), reason="needs the shipped model")
def test_short_load_run_has_no_errors():
    """benchmarks/load.py in miniature: concurrent clients, mixed requests, zero errors, bounded in time."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "load.py"), "--clients", "4", "--requests", "6",
           "--repeats", "2", "--deadline", "240"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "| /reconstruct | 16 | 0 |" in out.stdout and "| /sample | 16 | 0 |" in out.stdout
    assert "timeouts: 0" in out.stdout
