"""Opening the tokenizers of multimodal models and of LlamaGen: a folder or Hub repository whose `config.json` is
a transformers config (`model_type`) rather than a diffusers one.

- A VQ-VAE alone, as `save_pretrained` writes it: `janus_vqgan` (JanusVQVAE), `emu3_vqgan` (Emu3VQVAE),
  `chameleon_vqgan` (ChameleonVQVAE, which has no decoder).
- A whole multimodal model (`janus`, `emu3`, `chameleon`): its VQ-VAE alone, configured by the model's
  `vq_config`, its tensors found by their `vqmodel.` prefix in the safetensors index; other shards are never
  opened, and from the Hub only the VQ-VAE's byte ranges are fetched (storage.weights).
- LlamaGen's VQ: a config of LlamaGen's `ModelArgs` fields and a `model.safetensors` with LlamaGen's own
  parameter names (models.llamagen).

The networks are transformers' own classes, built from the config; `trust_remote_code` is never used: a config
that asks for a repository's own code (`auto_map`) is refused.
"""

import hashlib
import json
from pathlib import Path

import torch

from .weights import INDEX, HubFiles, LocalFiles, WeightsError, layout, read_tensors

VQ = {"janus_vqgan": ("JanusVQVAEConfig", "JanusVQVAE"), "emu3_vqgan": ("Emu3VQVAEConfig", "Emu3VQVAE"),
      "chameleon_vqgan": ("ChameleonVQVAEConfig", "ChameleonVQVAE")}
WHOLE = {"janus": "janus_vqgan", "emu3": "emu3_vqgan", "chameleon": "chameleon_vqgan"}
MARK = "vqmodel."   # a whole model's VQ-VAE tensors: model.vqmodel.* (transformers 5), vqmodel.* (older saves)
FAMILY_NAMES = {"janus_vqgan": "Janus VQ-VAE", "emu3_vqgan": "Emu3 VQ-VAE", "chameleon_vqgan": "Chameleon VQ-VAE",
                "llamagen": "LlamaGen VQ"}


def claims(config) -> bool:
    """A config this module opens or refuses: a transformers config or LlamaGen's, not a diffusers one."""
    from ..models.llamagen import is_llamagen
    return isinstance(config, dict) and "_class_name" not in config and (
        "model_type" in config or "auto_map" in config or is_llamagen(config))


def _error(text):
    from .tokenizers import TokenizerError
    return TokenizerError(text)


def _library():
    try:
        import transformers
    except ImportError:
        raise _error("opening a transformers tokenizer (Janus, Emu3, Chameleon, LlamaGen) needs transformers: "
                     "pip install transformers huggingface_hub") from None
    return transformers


def plan(config: dict, where: str) -> tuple[str, dict, str | None]:
    """(family, the VQ-VAE's config dict, whole model's type or None) for a claimed config, or one line why not."""
    from ..models.llamagen import is_llamagen
    if "auto_map" in config:
        raise _error(f"{where} needs its repository's own code (auto_map in its config.json), which vq-explorer "
                     "never runs (no trust_remote_code): open a transformers-format save of it instead")
    if is_llamagen(config):
        return "llamagen", config, None
    kind = config.get("model_type")
    if kind in VQ:
        return kind, config, None
    if kind in WHOLE:
        vq = config.get("vq_config")
        if not isinstance(vq, dict):
            raise _error(f"{where} is a whole {kind} model without a vq_config: no VQ-VAE to open")
        return WHOLE[kind], vq, kind
    raise _error(f"{where} holds a {kind!r} model, which has no VQ tokenizer vq-explorer opens (it opens "
                 "Janus, Emu3 and Chameleon VQ-VAEs and whole models, LlamaGen's VQ and diffusers VQModels)")


def _prefix(names, where: str) -> str:
    """The prefix of a whole model's VQ-VAE tensors (e.g. `model.vqmodel.`)."""
    found = {n[: n.index(MARK) + len(MARK)] for n in names if MARK in n}
    if not found:
        raise _error(f"{where}: a whole model without VQ-VAE tensors (none named *{MARK}*)")
    if len(found) > 1:
        raise _error(f"{where}: VQ-VAE tensors under several prefixes ({', '.join(sorted(found))})")
    return found.pop()


def build(family: str, vq_config: dict, state: dict, where: str):
    """The tokenizer of `family` from its config and its tensors (names without any prefix)."""
    from ..models.llamagen import LlamaGenTokenizer, janus_config, rename
    from ..models.transformers_vq import TransformersTokenizer
    lib = _library()
    try:
        if family == "llamagen":
            config, l2 = janus_config(vq_config)
            state = rename(state)
        else:
            fields = {k: v for k, v in vq_config.items() if k not in ("model_type", "architectures")}
            config = getattr(lib, VQ[family][0])(**fields)
        cls = getattr(lib, VQ["janus_vqgan" if family == "llamagen" else family][1])
        with torch.device("meta"):      # no random initialisation of weights about to be replaced
            vq = cls(config)
    except (TypeError, ValueError) as e:
        raise _error(f"{where}: its config does not describe a {FAMILY_NAMES[family]} ({e})") from None
    try:
        vq.load_state_dict(state, strict=True, assign=True)
        if any(t.is_meta for t in (*vq.parameters(), *vq.buffers())):    # a buffer no checkpoint holds
            vq = cls(config)
            vq.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e)[:200])
        raise _error(f"{where}: its tensors do not fit the {FAMILY_NAMES[family]} its config describes "
                     f"({first[:200]})") from None
    vq = vq.float().eval()
    if family == "llamagen":
        return LlamaGenTokenizer(vq, l2)
    return TransformersTokenizer(vq, family)


def digest(state: dict) -> str:
    """SHA-256 of the tensors (names, dtypes, shapes, bytes): the same VQ-VAE gives the same digest whichever
    checkpoint it was read from."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def open_files(files, config: dict, where: str):
    """(tokenizer, family, SHA-256 of its tensors, bytes read) from a folder's files."""
    family, vq_config, whole = plan(config, where)
    try:
        weight_map = layout(files)
        names = list(weight_map)
        prefix = _prefix(names, where) if whole else ""
        wanted = [n for n in names if n.startswith(prefix)]
        state = {n[len(prefix):]: t for n, t in read_tensors(files, wanted, weight_map).items()}
    except WeightsError as e:
        raise _error(str(e)) from None
    return build(family, vq_config, state, where), family, digest(state), files.fetched


def open_local(folder: Path, config: dict):
    return open_files(LocalFiles(folder), config, str(folder))


def open_hub(repo_id: str, subfolder: str | None, local: Path, config: dict, revision: str | None = None):
    """From the Hub: the config and index came file by file (in `local`); the tensors by ranges, at the commit
    the config was fetched at."""
    return open_files(HubFiles(repo_id, subfolder, local, revision=revision), config,
                      f"hf://{repo_id}" + (f"/{subfolder}" if subfolder else ""))


def read_config(folder: Path) -> dict | None:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return config if isinstance(config, dict) else None


def hub_file(repo_id: str, subfolder: str | None, name: str, revision=None, cache_dir=None) -> Path | None:
    """One small file of a Hub (sub)folder through huggingface_hub's cache; None where it is not there."""
    from .hub import HubError, download_file
    try:
        path = download_file(repo_id, subfolder, name, revision, cache_dir)
    except HubError:
        return None
    return Path(path) if path else None


def open_other(source: str, side: int, examples=None, cache_dir=None, device=None,
               config_path: Path | None = None):
    """`vqe.open` of a transformers or LlamaGen tokenizer (a VQModel the app opens), or None when `source` is
    none of them (a diffusers folder or repository). From the Hub the config came first, alone (`config_path`,
    storage.tokenizers.hub_config); the index and the VQ tensors' bytes come only for a config this module
    opens, at the commit the config was fetched at."""
    from .hub import commit_of
    from .tokenizers import HUB, as_model, parse_source
    where, name, subfolder = parse_source(source)
    commit = None
    if where == "local":
        folder = Path(name)
        config = read_config(folder)
        if not claims(config):
            return None
        tokenizer, family, sha, _ = open_local(folder, config)
        label = "/".join(folder.resolve().parts[-2:])
    else:
        config = read_config(config_path.parent)
        if not claims(config):
            return None
        commit = commit_of(config_path)
        hub_file(name, subfolder, INDEX, commit, cache_dir)   # a whole model's shards' index (none: one file)
        tokenizer, family, sha, _ = open_hub(name, subfolder, config_path.parent, config, commit)
        label = str(source).removeprefix(HUB).rstrip("/")
    model = as_model(tokenizer, label, source, side, examples, sha, device, commit)
    model.config["tokenizer"].update(family=FAMILY_NAMES[family], decoder=tokenizer.has_decoder)
    return model
