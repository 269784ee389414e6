"""Which device models run on: an explicit one, else VQE_DEVICE, else CUDA when present, else the CPU."""

import pytest
import torch

from vq_explorer.models.device import choose_device


def test_the_choice_follows_the_request_then_the_environment_then_cuda(monkeypatch):
    monkeypatch.delenv("VQE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device() == torch.device("cuda")                       # CUDA by default where present
    monkeypatch.setenv("VQE_DEVICE", "cpu")
    assert choose_device() == torch.device("cpu")                        # the variable wins over the default
    assert choose_device("cuda:1") == torch.device("cuda:1")             # an explicit request wins over both


def test_impossible_devices_are_refused_with_a_message(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("VQE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        choose_device()
    with pytest.raises(ValueError, match="not a device"):
        choose_device("gpu please")


def test_load_puts_the_model_where_the_choice_says(monkeypatch, tmp_path):
    from conftest import make_tiny_model

    import vq_explorer as vqe
    vqe.save(make_tiny_model(), tmp_path / "m.safetensors")
    monkeypatch.setenv("VQE_DEVICE", "cpu")
    assert vqe.load(tmp_path / "m.safetensors").device == torch.device("cpu")
    monkeypatch.setenv("VQE_DEVICE", "meta")   # a device that exists everywhere and is not the CPU
    assert vqe.load(tmp_path / "m.safetensors").device == torch.device("meta")
