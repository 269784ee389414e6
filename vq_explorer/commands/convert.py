"""Convert a released tokenizer checkpoint into a folder `vqe.open` reads (safetensors and a config).

    vq-explorer-convert vq_ds16_c2i.pt llamagen-vq16 --family llamagen --preset VQ-16

LlamaGen releases its VQ weights as `.pt` files (the state dict under "model"). They are read with PyTorch's
weights-only loader (`torch.load(weights_only=True)`, which rebuilds tensors and plain containers and refuses
anything else in the pickle, so no code in the file runs); a file it refuses is refused here. The folder written
holds `model.safetensors` (LlamaGen's own parameter names) and `config.json` (LlamaGen's ModelArgs fields), and
is checked to open before this command says it is done. The app itself opens safetensors only.
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from ..models.llamagen import DROPPED, PRESETS


class ConvertError(ValueError):
    """A source that cannot be converted; the message says why, in one line."""


def read_state(src: Path) -> dict:
    """The state dict of a released `.pt`, through the weights-only loader."""
    if not src.is_file():
        raise ConvertError(f"{src}: no such file")
    try:
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - UnpicklingError, a zip that is no checkpoint, a truncated file
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise ConvertError(f"{src}: refused by PyTorch's weights-only loader ({first})") from None
    state = obj.get("model", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ConvertError(f"{src}: holds no state dict of tensors (looked at the whole file and its 'model')")
    return state


def convert(src, dest, preset: str = "VQ-16", **fields) -> Path:
    """Write `dest` (model.safetensors + config.json) from a LlamaGen `.pt`; ConvertError with one line."""
    from ..storage.checkpoint import atomic_save_file
    from ..storage.tokenizers import TokenizerError
    from ..storage.transformers_vq import build
    src, dest = Path(src), Path(dest)
    config = {**PRESETS[preset], **{k: v for k, v in fields.items() if v is not None}}
    state = {k: v.contiguous() for k, v in read_state(src).items() if k not in DROPPED}
    try:
        build("llamagen", config, dict(state), str(src))        # the tensors fit the config, or one line why
    except TokenizerError as e:
        raise ConvertError(str(e)) from None
    dest.mkdir(parents=True, exist_ok=True)
    atomic_save_file(state, dest / "model.safetensors", {"format": "pt", "converted_from": src.name})
    tmp = dest / ".config.json.tmp"
    tmp.write_text(json.dumps(config, indent=2))
    tmp.replace(dest / "config.json")
    return dest


def main(argv=None):
    ap = argparse.ArgumentParser(prog="vq-explorer-convert", description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="a released checkpoint (.pt), read with the weights-only loader")
    ap.add_argument("dest", type=Path, help="the folder to write (model.safetensors + config.json)")
    ap.add_argument("--family", choices=["llamagen"], required=True)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="VQ-16",
                    help="LlamaGen's architecture: VQ-16 (f = 16) or VQ-8 (f = 8)")
    ap.add_argument("--codebook-size", type=int, help="K, if not the preset's 16,384")
    ap.add_argument("--codebook-embed-dim", type=int, help="d, if not the preset's 8")
    args = ap.parse_args(argv)
    try:
        out = convert(args.src, args.dest, args.preset, codebook_size=args.codebook_size,
                      codebook_embed_dim=args.codebook_embed_dim)
    except ConvertError as e:
        print(f"vq-explorer-convert: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"vq-explorer-convert: wrote {out} (open it with vq-explorer --open {out})")


if __name__ == "__main__":
    main()
