"""Opening VQ tokenizers made elsewhere: a diffusers `VQModel` folder, the same on the Hugging Face Hub, or any
PyTorch model wrapped from its functions. Each becomes a `VQModel` without a prior, which every tab opens.

Safetensors weights only: a folder or repository that offers only `.bin` / `.ckpt` files is refused, never
unpickled. The Hub is reached through `huggingface_hub` (storage/hub.py): the config, then exactly the weights
file diffusers loads, at a recorded commit. A source that looks like a path (`./`, `/`, `~`, `….safetensors`, or
under a folder that exists here) is a path, never a Hub id.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ..models.device import choose_device
from ..models.model import VQModel
from ..models.tokenizer import DiffusersTokenizer, Tokenizer, WrappedTokenizer, parameter_count
from .hub import PICKLED, WEIGHTS, HubError, fetch_config, fetch_diffusers
from .images import IMAGE_SUFFIXES

HUB = "hf://"


class TokenizerError(ValueError):
    """A tokenizer that cannot be opened; the message says why, in one line."""


def parse_source(source: str) -> tuple[str, str | None, str | None]:
    """("local", folder, None) or ("hub", repo id, subfolder) for `source`: a folder that exists, or
    `hf://owner/name[@revision][/subfolder]` (an `owner/name[/subfolder]` that looks like no path is a Hub id
    too). A source that looks like a path and is not there is "no such file or folder", never a Hub lookup."""
    text = str(source).strip()
    if not text:
        raise TokenizerError("no tokenizer named: give a folder or a Hub id (hf://owner/name/subfolder)")
    if not text.startswith(HUB):
        if Path(text).expanduser().exists():
            return "local", str(Path(text).expanduser()), None
        first = Path(text.replace("\\", "/").split("/")[0]).expanduser()
        looks_local = text.startswith((".", "/", "~", "\\")) or text.endswith(".safetensors")
        if looks_local or (first.name and first.is_dir()):
            raise TokenizerError(f"{text[:120]}: no such file or folder")
    repo, subfolder, _ = parse_hub(text)
    return "hub", repo, subfolder


def parse_hub(text: str) -> tuple[str, str | None, str | None]:
    """(repo id, subfolder, revision) of `hf://owner/name[@revision][/subfolder]`."""
    text = str(text).strip()
    parts = text.removeprefix(HUB).strip("/").split("/")
    if len(parts) < 2 or not all(parts) or any(p in (".", "..") for p in parts) or text.startswith(("/", ".")):
        raise TokenizerError(f"{text[:120]!r} is neither a folder here nor a Hub id (hf://owner/name/subfolder)")
    name, _, revision = parts[1].partition("@")
    if not name or (_ and not revision):
        raise TokenizerError(f"{text[:120]!r}: a revision follows the name, hf://owner/name@revision")
    return f"{parts[0]}/{name}", "/".join(parts[2:]) or None, revision or None


def fetch(repo_id: str, subfolder: str | None, cache_dir=None, revision: str | None = None,
          config_path: Path | None = None) -> tuple[Path, str]:
    """The config and weights of a Hub repository's (sub)folder, downloaded into huggingface_hub's cache (a second
    call reads the cache): (the folder they are in, the commit they were fetched at)."""
    try:
        return fetch_diffusers(repo_id, subfolder, revision, cache_dir, config_path=config_path)
    except HubError as e:
        raise TokenizerError(str(e)) from None


def hub_config(source: str, cache_dir=None, revision: str | None = None) -> Path | None:
    """The config of a Hub source, fetched first and alone (None for a local folder): what it names decides
    which files come next, diffusers' weights or a transformers model's tensors."""
    where, name, subfolder = parse_source(source)
    if where != "hub":
        return None
    try:
        return fetch_config(name, subfolder, revision or parse_hub(source)[2], cache_dir)
    except HubError as e:
        raise TokenizerError(str(e)) from None


def check_folder(folder: Path) -> dict:
    """The folder's diffusers config, once it is known to be a VQModel with safetensors weights."""
    config_path = folder / "config.json"
    if not folder.is_dir() or not config_path.is_file():
        raise TokenizerError(f"{folder} has no config.json: not a diffusers model folder (for a repository "
                             "with several models, name the subfolder: hf://owner/name/vqvae)")
    try:
        config = json.loads(config_path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise TokenizerError(f"{config_path} is not valid JSON") from None
    kind = config.get("_class_name") if isinstance(config, dict) else None
    if kind != "VQModel":
        raise TokenizerError(f"{folder} holds a {kind or 'model of unknown class'}, not a VQModel: vq-explorer "
                             "opens vector-quantized tokenizers (diffusers' VQModel)")
    if not (folder / WEIGHTS).is_file():
        pickled = [p for p in PICKLED if (folder / p).exists()]
        raise TokenizerError(f"{folder} has no {WEIGHTS}" + (f" (only {', '.join(pickled)}, which vq-explorer "
                                                             "never unpickles: convert it to safetensors)"
                                                             if pickled else ""))
    return config


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def open_diffusers(source: str, cache_dir=None, revision: str | None = None, config_path: Path | None = None):
    """A diffusers VQModel from a folder or the Hub: (the model, the folder it was read from, the SHA-256 of its
    weights, the Hub commit it was fetched at or None). `revision`: the commit to fetch (else the source's
    `@revision`, else the newest); `config_path`: its config, where `hub_config` fetched it."""
    where, name, subfolder = parse_source(source)
    commit = None
    if where == "hub":
        folder, commit = fetch(name, subfolder, cache_dir, revision or parse_hub(source)[2], config_path)
    else:
        folder = Path(name)
    check_folder(folder)
    try:
        from diffusers import VQModel as DiffusersVQModel
    except ImportError:
        raise TokenizerError("opening a diffusers tokenizer needs diffusers: pip install "
                             "diffusers huggingface_hub") from None
    try:
        vq = DiffusersVQModel.from_pretrained(str(folder), use_safetensors=True, low_cpu_mem_usage=False)
    except Exception as e:  # noqa: BLE001 - a config and weights that do not fit: one line
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise TokenizerError(f"{folder}: its weights do not load into the VQModel its config describes ({first})"
                             ) from None
    return vq.float().eval(), folder, sha256(folder / WEIGHTS), commit


def photos(folder, side: int, channels: int = 3, limit: int = 40) -> torch.Tensor | None:
    """The pictures of a folder, centre-cropped square at `side` pixels: uint8 (N, C, side, side), or None."""
    folder = Path(folder) if folder else None
    if folder is None or not folder.is_dir():
        return None
    out = []
    for p in sorted(folder.iterdir())[: limit * 2]:
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            with Image.open(p) as img:
                img = ImageOps.fit(ImageOps.exif_transpose(img).convert("RGB" if channels == 3 else "L"),
                                   (side, side), Image.LANCZOS)
        except (OSError, ValueError):
            continue
        a = np.asarray(img)
        out.append(torch.from_numpy(a.reshape(side, side, channels).copy()).permute(2, 0, 1))
        if len(out) >= limit:
            break
    return torch.stack(out) if out else None


def as_model(tokenizer: Tokenizer, name: str, source: str, side: int, examples=None, weights_sha256=None,
             device=None, revision: str | None = None) -> VQModel:
    """A tokenizer as the bundle every tab opens: no prior, its config from the tokenizer itself, and the
    pictures it is first shown (a folder of photos) as its examples."""
    f, channels = tokenizer.cfg.downsample, tokenizer.cfg.in_channels
    side = max(f, side // f * f)
    pinned = {"revision": revision} if revision else {}      # the Hub commit the weights were fetched at
    config = {"dataset": name, "image_size": [side, side], "channels": channels, "grid": [side // f, side // f],
              "num_codes": tokenizer.quantizer.num_codes, "code_dim": tokenizer.quantizer.code_dim,
              "downsample": f, "class_names": None, "prior": None, "max_side": side,
              "tokenizer": {"kind": tokenizer.kind, "source": str(source), "sha256": weights_sha256,
                            "parameters": parameter_count(tokenizer), **pinned}}
    pictures = photos(examples, side, channels) if not isinstance(examples, torch.Tensor) else examples
    model = VQModel(tokenizer.eval(), None, config, {}, pictures, None, {})
    return model.to(choose_device(device))


def is_tokenizer(source) -> bool:
    """Whether `source` names a tokenizer made elsewhere (a folder, `hf://owner/name`, or an `owner/name` that is
    no path here) rather than a file: any file is a vq-explorer checkpoint to the caller, whose loader says what is
    wrong with one that is not, and a missing path is "no such file", never a Hub lookup."""
    text = str(source).strip()
    if not text:
        return False
    path = Path(text).expanduser()
    if text.startswith(HUB) or path.is_dir():
        return True
    if path.exists():
        return False
    try:
        return parse_source(text)[0] == "hub"
    except TokenizerError:
        return False


def open_named(named: dict, device=None) -> VQModel:
    """The tokenizer a checkpoint names ({"source", "sha256", "revision", ...}), at the Hub commit it was fetched
    at when the checkpoint records one, refused unless its weights are those."""
    model = open_tokenizer(named["source"], device=device, revision=named.get("revision"))
    got = model.config["tokenizer"]["sha256"]
    if named.get("sha256") and got != named["sha256"]:
        raise TokenizerError(f"{named['source']} is not the tokenizer the prior was trained on: its weights "
                             f"differ (SHA-256 {got[:12]}…, expected {named['sha256'][:12]}…)")
    return model


def default_side(device=None) -> int:
    """The pixels a tokenizer is shown its images at when no size is given: 128 on a CPU, where a published
    VQ-f4 or MoVQ reconstructs a 128-pixel photo in about 1.2 s on two cores and a 256-pixel one in 5–6 s
    (benchmarks/tokenizer_speed.py), so a visitor's upload shows within a few seconds; 256 on a GPU."""
    cuda = torch.device(device).type == "cuda" if device is not None else torch.cuda.is_available()
    return 256 if cuda else 128


def open_tokenizer(source: str, side: int | None = None, examples=None, cache_dir=None, device=None,
                   revision: str | None = None) -> VQModel:
    """`vqe.open`: a diffusers VQModel (folder or Hub id) as a model the app opens, at `side` pixels (by default
    `default_side`); `revision`: a Hub commit, branch or tag (also `hf://owner/name@revision`)."""
    from .transformers_vq import open_other  # Janus, Emu3, Chameleon (alone or in a whole model), LlamaGen
    side = default_side(device) if side is None else side
    config_path = hub_config(source, cache_dir, revision)
    other = open_other(source, side, examples, cache_dir, device, config_path)
    if other is not None:
        return other
    vq, folder, digest, commit = open_diffusers(source, cache_dir, revision, config_path)
    name = (str(source).removeprefix(HUB).rstrip("/") if parse_source(source)[0] == "hub"
            else "/".join(folder.resolve().parts[-2:]))
    return as_model(DiffusersTokenizer(vq), name, source, side, examples, digest, device, commit)


def wrap(encode, decode, codebook=None, downsample: int | None = None, name: str = "my tokenizer",
         channels: int = 3, value_range=(0.0, 1.0), side: int = 64, examples=None, modules=(), nearest=None,
         device=None, levels=None, bits=None) -> VQModel:
    """`vqe.wrap`: any PyTorch VQ model, from its functions, as a model the app opens. `encode(x)` gives the
    continuous latents (B, d, h, w) or the codes (B, h, w) of images in `value_range`; `decode(codes)` images
    in that range; `codebook` the K × d vectors, or an implicit codebook (vector-quantize-pytorch's `FSQ` or
    `LFQ` module, or `levels=[…]` / `bits=N` instead: models.implicit); `modules` the nn.Modules to move with
    `.to(device)`."""
    from ..models.implicit import ImplicitTokenizer, implicit_codebook
    if downsample is None:
        raise TokenizerError("vqe.wrap needs downsample: the image pixels per grid cell along a side")
    try:
        implicit = implicit_codebook(codebook, levels, bits)
    except ValueError as e:
        raise TokenizerError(f"vqe.wrap: {e}") from None
    if implicit is not None:
        tokenizer = ImplicitTokenizer(encode, decode, implicit, downsample, channels, value_range,
                                      [*modules, *([codebook] if isinstance(codebook, torch.nn.Module) else [])])
    else:
        tokenizer = WrappedTokenizer(encode, decode, codebook, downsample, channels, value_range, nearest, modules)
    model = as_model(tokenizer, name, f"python: {name}", side, examples, None, device)
    if implicit is not None:
        model.config["tokenizer"]["family"] = implicit.family
    return model
