"""A training stage's resumable state: weights, Adam's moments and the random generators, in one safetensors
file with the stage's progress as JSON in its metadata. What resumes a stage, nothing else; a finished stage
keeps only its weights, so a rebuild's committed partial state stays small."""

import json

import torch

from .checkpoint import atomic_save_file, raw_metadata, read_whole

FORMAT = "vq-explorer-state/1"


def optimizer_tensors(opt) -> dict:
    """Adam's state as flat named tensors, so it can live in safetensors (no pickle)."""
    out = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"opt.{i}.{k}"] = torch.as_tensor(v).reshape(1) if not torch.is_tensor(v) or v.dim() == 0 else v
    return out


def load_optimizer(opt, tensors: dict):
    sd = opt.state_dict()
    state = {}
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, i, k = key.split(".", 2)
            state.setdefault(int(i), {})[k] = v.reshape(()) if k == "step" else v
    opt.load_state_dict({"state": state, "param_groups": sd["param_groups"]})


def rng_tensors(device) -> dict:
    """The random generators' states (label dropout, masks, code restarts draw from them), so a resumed stage
    draws exactly what the uninterrupted one would have."""
    out = {"rng.cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["rng.cuda"] = torch.cuda.get_rng_state(device)
    return out


def save_state(path, model, opt, info: dict, device=None):
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if not info.get("done"):
        tensors |= optimizer_tensors(opt) | rng_tensors(device or torch.device("cpu"))
    atomic_save_file(tensors, path, {"format": FORMAT, "info": json.dumps(info)})


def load_state(path, model, opt=None, device=None) -> dict:
    """Weights (and, given `opt`, the optimizer's state); given `device`, the random generators' states too
    (states written before they were saved resume with the generator as it is). One read of the file gives
    both the tensors and the progress, so a state replaced meanwhile (a training saving every minute) is never
    one step's weights with another step's progress."""
    meta, tensors = read_whole(path)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if opt is not None:
        load_optimizer(opt, tensors)
    if device is not None and "rng.cpu" in tensors:
        torch.set_rng_state(tensors["rng.cpu"])
        if device.type == "cuda" and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    return json.loads(meta["info"])


def read_info(path) -> dict:
    """The stage's progress (step, epoch, elapsed, done, command, machine, precision, config) without its
    tensors."""
    return json.loads(raw_metadata(path)["info"])
