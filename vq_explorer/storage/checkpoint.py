"""The single-file checkpoint: both models' tensors in safetensors, config and metrics in its metadata.

Safetensors holds only tensors and strings, so loading never runs code. Writes go to a temporary file in the
same folder and are renamed into place, so an interrupted save never leaves a broken checkpoint.
"""

import glob
import hashlib
import json
import math
import os
import platform
import secrets
import shlex
import time
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_bytes

from ..models.classifier import build_classifier
from ..models.config import VQVAEConfig, asdict, from_dict, prior_config_from_dict
from ..models.device import choose_device
from ..models.model import VQModel
from ..models.priors import build_prior
from ..models.vqvae import VQVAE

FORMAT = "vq-explorer/1"
# Bounds that no real model here comes near; they stop a crafted config from allocating without limit.
LIMITS = {"channels": 2048, "layers": 128, "num_codes": 65536, "code_dim": 4096, "res_blocks": 64,
          "downsample": 64, "kernel": 15, "num_classes": 100000, "in_channels": 4, "dim": 8192, "heads": 256,
          "rows": 1024, "cols": 1024}


class CheckpointError(ValueError):
    """A file that is not a usable vq-explorer checkpoint; the message names the file."""


def tokenizer_config(vinfo: dict, prior, data, **extra) -> dict:
    """The config of a prior over a tokenizer made elsewhere: the same flat facts, the tokenizer named (source,
    SHA-256 of its weights) where a VQ-VAE's settings would be."""
    c = vinfo["config"]
    h, w = data.image_size
    f = c["downsample"]
    return {"dataset": data.name, "image_size": [h, w], "channels": c["channels"],
            "grid": [-(-h // f), -(-w // f)], "num_codes": c["num_codes"], "code_dim": c["code_dim"],
            "downsample": f, "class_names": list(data.class_names) if data.class_names else None, "vqvae": None,
            "tokenizer": vinfo["tokenizer"], "prior": asdict(prior), **extra}


def make_config(vq: VQVAEConfig, prior, dataset: str, image_size, class_names=None,
                **extra) -> dict:
    """The checkpoint's config: the flat facts a user looks for first, then each model's full settings
    (`prior` None: a VQ-VAE alone, as the codebook lab trains)."""
    h, w = image_size
    f = vq.downsample
    return {"dataset": dataset, "image_size": [h, w], "channels": vq.in_channels,
            "grid": [-(-h // f), -(-w // f)], "num_codes": vq.num_codes, "code_dim": vq.code_dim,
            "downsample": f, "class_names": list(class_names) if class_names else None,
            "vqvae": asdict(vq), "prior": None if prior is None else asdict(prior), **extra}


# --- provenance: how a checkpoint was made, for config["train"] ------------------------------------------
def train_record(vinfo: dict, pinfo: dict, encode_seconds: float | None, batch_size: int, seed: int,
                 argv: list[str]) -> dict:
    """What a checkpoint says of its training, from its two stages' saved states: the command lines that made
    it (the recipe, so the rebuild script can tell whether a file is current), epochs, steps, wall-clock minutes
    and precision of every stage, and where they ran."""
    commands = sorted({c for i in (vinfo, pinfo) for c in i.get("commands", [i.get("command")]) if c})
    if not commands:  # states written before commands were recorded: the export's own command line
        commands = [recorded_command(argv)]
    machines = sorted({i["machine"] for i in (vinfo, pinfo) if i.get("machine")})
    return {"commands": commands,
            "vqvae_epochs": round(vinfo["epoch"], 2), "prior_epochs": round(pinfo["epoch"], 2),
            "vqvae_steps": vinfo["step"], "prior_steps": pinfo["step"],
            "vqvae_minutes": round(vinfo["elapsed"] / 60, 3), "prior_minutes": round(pinfo["elapsed"] / 60, 3),
            "vqvae_precision": vinfo.get("precision", "fp32"), "prior_precision": pinfo.get("precision", "fp32"),
            "encode_minutes": None if encode_seconds is None else round(encode_seconds / 60, 3),
            "batch_size": batch_size, "seed": seed,
            "machine": " / ".join(machines) or machine(torch.device("cpu"), 1)}


def machine(device, world: int) -> str:
    """Where a stage ran: the GPU's name, or the CPU model and its threads."""
    if device.type == "cuda":
        return f"{world} × {torch.cuda.get_device_name(device)}"
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), None) if Path("/proc/cpuinfo").exists() else None
    return f"{model or platform.processor() or platform.machine()}, {world} × {torch.get_num_threads()} threads"


def recorded_command(argv) -> str:
    """The command line that makes the model: argv without --stop-after-minutes, which only says when this
    sitting ends, so the sittings of one training all record the same command."""
    out, skip = ["python"], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--stop-after-minutes":
            skip = True
        elif not a.startswith("--stop-after-minutes="):
            out.append(a)
    return shlex.join(out)


def file_sha(path) -> str:
    """A short content hash: which VQ-VAE a run's codes, or an adopted VQ-VAE, came from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def atomic_save_file(tensors: dict, path, metadata: dict):
    """Write a safetensors file so that a reader sees the old file or the new one, never half of either: the
    bytes go to a temporary sibling, are fsynced, then renamed over `path`. The sibling is created with mode
    0o666 so the umask gives it the permissions any new file gets here, without touching the process-wide
    umask (another server thread may be creating files at the same moment)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = safetensors_bytes({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with open(fd, "wb") as f:
            _write_durably(f, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_durably(f, data: bytes) -> None:
    """Write and fsync: after a power cut the renamed file holds these bytes, not an empty inode."""
    f.write(data)
    f.flush()
    os.fsync(f.fileno())


def remove_stale_temp_files(path) -> list[Path]:
    """Delete the temporary siblings of `path` that a write killed half-way (kill -9, power loss) left behind.
    Only for a single writer: another process's write in progress would look the same."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def weights_id(tensors: dict, size: int = 3) -> bytes:
    """The first `size` bytes of a SHA-256 over the VQ-VAE's and the prior's tensors ("vqvae.*", "prior.*", each in
    name order): what a compressed file names its model by (service/codec.py's `model_id`)."""
    h = hashlib.sha256()
    for prefix in ("vqvae.", "prior."):
        for name in sorted(k for k in tensors if k.startswith(prefix)):
            h.update(name.encode())
            h.update(tensors[name].detach().cpu().contiguous().numpy().tobytes())
    return h.digest()[:size]


def model_weights(model: VQModel) -> dict:
    """The model's VQ-VAE (or tokenizer) and prior tensors, named as a checkpoint names them."""
    out = {f"vqvae.{k}": v for k, v in model.vqvae.state_dict().items()}
    if model.prior is not None:
        out |= {f"prior.{k}": v for k, v in model.prior.state_dict().items()}
    return out


def save(model: VQModel, path) -> None:
    """One safetensors file: the VQ-VAE and the prior, or, over a tokenizer made elsewhere, the prior alone (the
    config names the tokenizer and the SHA-256 of its weights)."""
    own = not model.config.get("tokenizer")
    tensors = {f"vqvae.{k}": v for k, v in model.vqvae.state_dict().items()} if own else {}
    if model.prior is not None:    # a lab model has none
        tensors |= {f"prior.{k}": v for k, v in model.prior.state_dict().items()}
    if model.examples is not None:
        tensors["examples.images"] = model.examples.to(torch.uint8)
        tensors["examples.labels"] = model.example_labels.to(torch.long)
    tensors |= {f"stats.{k}": v for k, v in model.stats.items()}
    metadata = {"format": FORMAT, "config": json.dumps(model.config), "metrics": json.dumps(model.metrics),
                "dataset": str(model.config.get("dataset", "")),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if model.prior is not None:   # which model a compressed file needs, readable without building the model
        metadata["codec_id"] = weights_id(model_weights(model)).hex()
    atomic_save_file(tensors, path, metadata)


def update_metrics(path, metrics: dict, stats: dict | None = None) -> None:
    """Rewrite a checkpoint's metrics (and codebook statistics) in place, atomically; weights untouched."""
    _update(path, metrics=metrics, stats=stats)


def update_record(path, **fields) -> None:
    """Add to a checkpoint's training record (config["train"]) what was known but not written when it was made
    (e.g. the precision of a model trained before the field existed), atomically; weights and metrics
    untouched."""
    _update(path, train=fields)


SAMPLING_DEFAULTS = ("steps", "guidance", "choice_temperature", "temperature")


def update_sampling_defaults(path, why: str, **defaults) -> None:
    """Change the settings a prior samples with by default (a masked prior's steps and guidance), chosen after
    training by measuring samples; the weights are untouched, and the record says why (`why`)."""
    meta = read_metadata(path)
    unknown = set(defaults) - set(SAMPLING_DEFAULTS) or set(defaults) - set(meta["config"].get("prior") or {})
    if unknown:
        raise CheckpointError(f"{path}: {sorted(unknown)} are not sampling settings of this checkpoint's prior")
    _update(path, train={"sampling_defaults": why}, prior=defaults)


def _update(path, metrics: dict | None = None, stats: dict | None = None, train: dict | None = None,
            prior: dict | None = None) -> None:
    meta, tensors = read_checkpoint(path)   # one read: the weights kept are those of the metadata read
    config = meta["config"] if train is None else {**meta["config"],
                                                   "train": {**meta["config"].get("train", {}), **train}}
    if prior is not None:
        config = {**config, "prior": {**config["prior"], **prior}}
    meta = {**meta, "config": json.dumps(config),
            "metrics": json.dumps(meta["metrics"] if metrics is None else metrics)}
    if stats is not None:
        tensors = {k: v for k, v in tensors.items() if not k.startswith("stats.")}
        tensors |= {f"stats.{k}": v for k, v in stats.items()}
    atomic_save_file(tensors, path, meta)


def raw_metadata(path) -> dict:
    """The string → string metadata of any safetensors file (training states, code grids), unchecked."""
    with safe_open(str(path), framework="numpy") as f:   # one open of the file: see read_tensors
        return f.metadata() or {}


def read_tensors(path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, from one read of it (`read_whole`)."""
    return read_whole(path)[1]


def read_whole(path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The string → string metadata and every tensor of any safetensors file, from one read of it.
    safetensors' own torch readers open the file by name twice (its header, then torch maps the data), so a file
    replaced in between (a training saving its state, the lab saving a model the app is listing) would pair one
    version's header with another's data; read once, it gives one version whole."""
    raw = Path(path).read_bytes()
    tensors = safetensors_load(raw)
    return _header_metadata(raw), tensors


def _header_metadata(raw: bytes) -> dict:
    """The metadata of a safetensors file already in memory (safetensors reads it only from a path): the file
    starts with the header's length, 8 bytes little-endian, then the JSON header, whose __metadata__ holds it.
    Only called on bytes that safetensors has just parsed, so the header is known to be well formed."""
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]).get("__metadata__") or {}


def _checked_metadata(path: Path, meta: dict) -> dict:
    if not meta.get("format", "").startswith("vq-explorer/"):
        raise CheckpointError(f"{path}: a safetensors file, but not a vq-explorer checkpoint "
                              "(its metadata has no 'format': 'vq-explorer/…')")
    try:
        config, metrics = json.loads(meta["config"]), json.loads(meta.get("metrics") or "{}")
        if not isinstance(config, dict) or not isinstance(metrics, dict):
            raise ValueError("config and metrics must be JSON objects")
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: broken metadata ({e})") from None
    return {**meta, "config": config, "metrics": metrics}


def _existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty, not a vq-explorer checkpoint")
    return path


def read_metadata(path) -> dict:
    """The checkpoint's metadata with config and metrics parsed; raises CheckpointError naming the file."""
    path = _existing(path)
    try:
        meta = raw_metadata(path)
    except Exception as e:  # safetensors raises several types for garbage, truncation and pickles
        raise CheckpointError(f"{path}: not a safetensors file ({e})") from None
    return _checked_metadata(path, meta)


def read_checkpoint(path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Metadata and tensors from one read of the file, so that a checkpoint replaced while it is loaded (the lab
    saving over a model the app is opening) gives one version whole, never one's config with another's weights."""
    path = _existing(path)
    try:
        meta, tensors = read_whole(path)
    except Exception as e:  # safetensors raises several types for garbage, truncation and pickles
        raise CheckpointError(f"{path}: not a safetensors file ({e})") from None
    return _checked_metadata(path, meta), tensors


def _within_limits(cfg) -> None:
    """Every size a config names within LIMITS, before a module of that size is built."""
    for key, bound in LIMITS.items():
        value = getattr(cfg, key, None)
        if value is not None and not (isinstance(value, int) and 0 <= value <= bound):
            raise ValueError(f"{key}={value!r} is out of range")


def _model_configs(config: dict):
    vq = from_dict(VQVAEConfig, config["vqvae"])
    prior = None if config["prior"] is None else prior_config_from_dict(config["prior"])
    for cfg in (vq, prior):
        _within_limits(cfg)
    levels = vq.fsq_levels
    if levels and not (isinstance(levels, list) and all(isinstance(n, int) and 2 <= n <= 256 for n in levels)
                       and len(levels) <= 8 and math.prod(levels) == vq.num_codes):
        raise ValueError(f"fsq_levels={str(levels)[:80]} must be 2..256 each, their product num_codes")
    if prior is not None and vq.num_codes != prior.num_codes:
        raise ValueError("the VQ-VAE and the prior disagree on the number of codes")
    return vq, prior


def load(path, device: str | torch.device | None = None) -> VQModel:
    """Load a checkpoint into a ready-to-use VQModel (eval mode, on `device`, else $VQE_DEVICE, else CUDA when
    present, else the CPU)."""
    meta, tensors = read_checkpoint(path)
    config = meta["config"]
    if config.get("tokenizer"):
        return _load_over_tokenizer(path, meta, tensors, device)
    try:
        vq_cfg, prior_cfg = _model_configs(config)
        vqvae, prior = VQVAE(vq_cfg), None if prior_cfg is None else build_prior(prior_cfg)
        for name, module in (("vqvae", vqvae), ("prior", prior)):
            if module is None:
                continue
            module.load_state_dict(section(tensors, name))
        missing = [k for k in ("image_size", "grid", "num_codes", "channels") if k not in config]
        if missing:
            raise ValueError(f"config lacks {missing}")
    except Exception as e:
        raise CheckpointError(f"{path}: tensors or config do not form a vq-explorer model ({e})") from None
    return _assemble(vqvae.eval(), None if prior is None else prior.eval(), meta, tensors, device)


def section(tensors: dict, name: str) -> dict:
    """The file's tensors under `name.` ("vqvae", "prior", "stats"), named without the prefix."""
    return {k.removeprefix(name + "."): v for k, v in tensors.items() if k.startswith(name + ".")}


def _assemble(vqvae, prior, meta, tensors, device) -> VQModel:
    """The loaded model: its modules, the file's config and metrics, examples and codebook statistics."""
    return VQModel(vqvae, prior, meta["config"], meta["metrics"], tensors.get("examples.images"),
                   tensors.get("examples.labels"), section(tensors, "stats")).to(choose_device(device))


def _load_over_tokenizer(path, meta, tensors, device) -> VQModel:
    """A prior trained over a tokenizer made elsewhere: the tokenizer is opened from where the checkpoint says
    (its folder or Hub id) and refused unless its weights are the ones the prior was trained on."""
    from .tokenizers import TokenizerError, open_named
    config = meta["config"]
    try:
        prior_cfg = prior_config_from_dict(config["prior"]) if config.get("prior") else None
        _within_limits(prior_cfg)           # the same bounds as every checkpoint's, before anything is built
        prior = build_prior(prior_cfg) if prior_cfg else None
        if prior is not None:
            prior.load_state_dict(section(tensors, "prior"))
    except Exception as e:
        raise CheckpointError(f"{path}: tensors or config do not form a prior ({e})") from None
    try:
        tokenizer = open_named(config["tokenizer"], device).vqvae
    except TokenizerError as e:
        raise CheckpointError(f"{path}: its tokenizer does not open: {e}") from None
    if prior_cfg is not None and tokenizer.quantizer.num_codes != prior_cfg.num_codes:
        raise CheckpointError(f"{path}: the tokenizer has {tokenizer.quantizer.num_codes} codes, the prior "
                              f"{prior_cfg.num_codes}")
    return _assemble(tokenizer, prior and prior.eval(), meta, tensors, device)


CLASSIFIER_FORMAT = "vq-explorer-classifier/1"


def save_classifier(model: torch.nn.Module, path, record: dict):
    """A judging classifier as safetensors, weights in float16 (it ships as a test fixture; float16 keeps every
    prediction of the float32 net to within rounding, and the accuracy recorded is the loaded copy's)."""
    tensors = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    atomic_save_file(tensors, path, {"format": CLASSIFIER_FORMAT, "config": json.dumps(model.config),
                                     **{k: str(v) for k, v in record.items()}})


def load_classifier(path) -> torch.nn.Module:
    meta = raw_metadata(path)
    if meta.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(f"{path}: not a vq-explorer classifier file")
    model = build_classifier(json.loads(meta["config"]))
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in read_tensors(path).items()})
    return model.eval()
