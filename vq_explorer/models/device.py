"""Where models run: VQE_DEVICE if set, else CUDA when present, else the CPU. The app and `vq_explorer.load` both
ask here, so one variable moves a whole deployment (a GPU Space, a laptop) without touching code."""

import os

import torch


def choose_device(requested: str | torch.device | None = None) -> torch.device:
    """`requested`, else $VQE_DEVICE, else "cuda" when available, else "cpu"; a clear ValueError for a name that
    is no device or a CUDA device on a machine without one."""
    name = requested or os.environ.get("VQE_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"{name!r} is not a device: use cpu, cuda or cuda:N (VQE_DEVICE)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for (VQE_DEVICE or device=), but CUDA is not available here")
    return device
