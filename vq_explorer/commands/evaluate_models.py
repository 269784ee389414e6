"""Several models over one folder of pictures, side by side:

    vq-explorer-evaluate --models A B ... --images DIR [--size S] [--limit N] [--out results.csv]

A model is a checkpoint file, or a tokenizer made elsewhere (a diffusers VQModel folder or a Hub id, as
`vq-explorer --open` takes). Every picture (PNG, JPEG, WebP, AVIF, GIF, BMP, TIFF, any size, in DIR and its
sub-folders) goes through every model the way the app gives it one. Prints a Markdown table, writes the CSV and,
beside it, a chart of PSNR against tokens per image (results.png). A picture that cannot be read is named and
left out, and the command then exits with status 1 after writing what it measured."""

import csv
import sys
from pathlib import Path

from tqdm.auto import tqdm

from .. import service
from ..storage.images import IMAGE_SUFFIXES
from ..views.compare import markdown_table, save_chart


def add_arguments(ap):
    ap.add_argument("--models", nargs="+", metavar="MODEL",
                    help="checkpoints (or tokenizer folders / Hub ids) to evaluate side by side over --images")
    ap.add_argument("--images", metavar="DIR", help="a folder of pictures (PNG, JPEG, WebP, AVIF…), for --models")
    ap.add_argument("--size", type=int, default=None,
                    help="with --models: scale each picture so its long side is S pixels first (a colour model "
                         "then encodes it at that size; a digit model always at its training size)")
    ap.add_argument("--out", default="results.csv", help="with --models: the CSV to write (default results.csv); "
                    "the chart goes beside it, as a .png")
    ap.add_argument("--weigh", type=int, default=20, metavar="N",
                    help="with --models: make the compressed files of the first N pictures, for bytes_per_image "
                         "(default 20; the coder runs the prior once per cell: ~0.1 s a digit, where encoding and "
                         "decoding take milliseconds); 0 for none")


def open_model(source: str, side: int | None = None):
    """A checkpoint file, or a tokenizer (a folder or a Hub id, shown pictures of `side` pixels); exits with one
    line when it does not open."""
    from ..storage.checkpoint import CheckpointError, load
    from ..storage.tokenizers import TokenizerError, open_tokenizer
    try:
        return load(source) if str(source).endswith(".safetensors") else open_tokenizer(source, side)
    except (CheckpointError, TokenizerError) as e:
        raise SystemExit(f"error: {e}") from None


def run(args) -> int:
    if not args.images:
        raise SystemExit("error: --models needs --images DIR, the folder of pictures to evaluate them on")
    try:
        files = service.compare.image_files(args.images)[: args.limit]
    except service.UserError:
        raise SystemExit(f"error: {args.images} is not a folder") from None
    if not files:
        raise SystemExit(f"error: no pictures ({', '.join(IMAGE_SUFFIXES)}) in {args.images}")
    models = {source: open_model(source, args.size) for source in args.models}
    skipped = {}
    bar = lambda items, name: tqdm(items, desc=Path(name).name.removesuffix(".safetensors"), unit="image")
    rows = service.compare.evaluate_folder(models, files, args.size, bar, skipped, args.weigh)
    for path, why in skipped.items():
        print(f"skipped {path}: {why}", file=sys.stderr)
    print(markdown_table(rows))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=service.compare.COLUMNS)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    chart = out.with_suffix(".png")
    save_chart(rows, chart)
    print(f"\nwrote {out} and {chart} ({len(files) - len(skipped)} pictures"
          + (f"; {len(skipped)} could not be read and {'was' if len(skipped) == 1 else 'were'} left out"
                 if skipped else "") + ")")
    return 1 if skipped else 0
