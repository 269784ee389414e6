"""Compress images into files of the prior's bits, and decompress them: `vq-explorer-codec`.

    vq-explorer-codec compress IMAGE_OR_FOLDER... -o DIR --checkpoint mnist [--label 7]
    vq-explorer-codec decompress FILE_OR_FOLDER... -o DIR [--checkpoints DIR]

A compressed file (`.vqe`) holds a short header (which model: a hash of its weights; the class; the grid and image
size where they differ from the model's; a checksum) and the grid range-coded with the prior's probabilities.
Decompressing finds the model among the checkpoints by that hash. One summary line per file; a progress bar for
more than a few. A file that fails is said on its own line and the others go on; the last line names the
failures and the command exits 1.
"""

import argparse
import sys
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from ..storage.images import IMAGE_SUFFIXES


def files(paths, suffixes) -> list[Path]:
    out = []
    for p in map(Path, paths):
        out += sorted(q for q in p.rglob("*") if q.suffix.lower() in suffixes) if p.is_dir() else [p]
    return out


def checkpoint_path(name: str, folder: Path) -> Path:
    path = Path(name)
    if path.exists():
        return path
    return folder / (name if name.endswith(".safetensors") else f"{name}.safetensors")


def main(argv=None):
    from .. import service
    from ..messages import error_text
    from ..storage.checkpoint import CheckpointError, load
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("verb", choices=("compress", "decompress"))
    ap.add_argument("inputs", nargs="+", type=Path, help="files, or folders to go through")
    ap.add_argument("-o", "--out", type=Path, required=True, help="folder for the results")
    ap.add_argument("--checkpoint", default="mnist",
                    help="compress: the model (a name in --checkpoints, or a path)")
    ap.add_argument("--checkpoints", type=Path, default=service.DEFAULT_CHECKPOINTS,
                    help="the folder of checkpoints (decompress: every one is a candidate)")
    ap.add_argument("--label", default=None, help="compress: the class (name or index) to code under")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        if args.verb == "compress":
            model = load(checkpoint_path(args.checkpoint, args.checkpoints))
            models = None
        else:
            model = None
            names = sorted(args.checkpoints.glob("*.safetensors"))
            models = [load(p) for p in names]
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from None
    todo = files(args.inputs, IMAGE_SUFFIXES if args.verb == "compress" else {".vqe"})
    if not todo:
        raise SystemExit("error: no input files found")
    failed = []
    for path in tqdm(todo, disable=len(todo) < 5, desc=args.verb, file=sys.stderr):
        try:
            if args.verb == "compress":
                label = service.label_id(model, args.label)
                x, _ = service.load_image(model, path)
                data = service.codec.compress(model, x, label)
                out = args.out / f"{path.stem}.vqe"
                out.write_bytes(data)
                bits = service.grid_bits(model, model.encode(x)[0], label)
                print(f"{path} → {out}: {len(data)} bytes (ideal {bits / 8:.1f} + "
                      f"header and last word), {path.stat().st_size} bytes before")
            else:
                data = path.read_bytes()
                image, found, info = service.codec.decompress(data, models)
                out = args.out / f"{path.stem}.png"
                Image.fromarray((image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).squeeze(-1).numpy()
                                ).save(out)
                print(f"{path} → {out}: {tuple(image.shape[-2:])} image, grid {tuple(info['grid'].shape)}, "
                      f"class {info['label']}, model {found.config.get('dataset')}")
        except (service.codec.CodecError, service.UserError, OSError) as e:
            failed.append(path)
            print(f"{path}: {error_text(e) if isinstance(e, service.UserError) else e}", file=sys.stderr)
    if failed:
        raise SystemExit(f"{len(failed)} of {len(todo)} files failed: {', '.join(map(str, failed))}")


if __name__ == "__main__":
    main()
