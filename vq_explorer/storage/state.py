"""A training stage's resumable state: weights, Adam's moments and the random generators, in one safetensors
file with the stage's progress as JSON in its metadata. What resumes a stage, nothing else; a finished stage
keeps only its weights, so a rebuild's committed partial state stays small."""

import json

import torch

from .checkpoint import atomic_save_file, raw_metadata, read_whole, section

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


def rng_tensors(device, world: int = 1) -> dict:
    """The random generators' states (label dropout, masks, code restarts draw from them), so a resumed stage
    draws exactly what the uninterrupted one would have. Under torchrun every rank draws from its own
    generator, so every rank's state is kept: rank 0's as `rng.cpu` (the name a single process has always
    written), rank r's as `rng.cpu.rank{r}`. With several processes this is a collective call: every rank makes
    it, and rank 0 receives them all."""
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    out = {}
    for kind, state in states.items():
        gathered = [state]
        if world > 1:   # NCCL gathers only tensors on the GPU; gloo takes them where they are
            where = device if device.type == "cuda" else torch.device("cpu")
            gathered = [torch.empty_like(state, device=where) for _ in range(world)]
            torch.distributed.all_gather(gathered, state.to(where))
        for r, g in enumerate(gathered):
            out[f"rng.{kind}" + (f".rank{r}" if r else "")] = g.cpu()
    return out


def save_state(path, model, opt, info: dict, rng: dict | None = None):
    """`rng`: the generators' states (`rng_tensors`); saved with the optimizer while the stage is unfinished."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if not info.get("done"):
        tensors |= optimizer_tensors(opt) | (rng if rng is not None else rng_tensors(torch.device("cpu")))
    atomic_save_file(tensors, path, {"format": FORMAT, "info": json.dumps(info)})


def load_state(path, model, opt=None, device=None, rank: int = 0) -> dict:
    """Weights (and, given `opt`, the optimizer's state); given `device`, this rank's random generators' states
    too. States written before they were saved, or by fewer processes than resume them, leave a generator as
    it is (seeded per rank), never another rank's: two ranks drawing the same label dropout and masks would
    not be the run that was paused. One read of the file gives both the tensors and the progress, so a state
    replaced meanwhile (a training saving every minute) is never one step's weights with another step's
    progress."""
    meta, tensors = read_whole(path)
    model.load_state_dict(section(tensors, "model"))
    if opt is not None:
        load_optimizer(opt, tensors)
    suffix = f".rank{rank}" if rank else ""
    if device is not None and f"rng.cpu{suffix}" in tensors:
        torch.set_rng_state(tensors[f"rng.cpu{suffix}"])
        if device.type == "cuda" and f"rng.cuda{suffix}" in tensors:
            torch.cuda.set_rng_state(tensors[f"rng.cuda{suffix}"], device)
    return json.loads(meta["info"])


def read_info(path) -> dict:
    """The stage's progress (step, epoch, elapsed, done, command, machine, precision, config) without its
    tensors."""
    return json.loads(raw_metadata(path)["info"])
