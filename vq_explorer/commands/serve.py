"""Serve the app: `vq-explorer --checkpoints DIR [--host H] [--port P]` (installed), or `python app.py`.

VQE_CHECKPOINTS names the folder too; VQE_DEVICE the device (default CUDA when present); VQE_MAX_SESSIONS bounds
the sessions whose state the server keeps (default 500), VQE_CACHE_MAX_AGE the seconds a returned file is kept
(default 1800)."""

import argparse
import ctypes
import os
import sys
from pathlib import Path


def limit_threads():
    """Two compute threads per request. Gradio runs two requests at a time, and on a small machine (a free Space
    has 2 vCPUs) more threads per request only fight each other."""
    import torch
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))


def limit_malloc_arenas(arenas: int = 2):
    """glibc gives threads their own heaps (up to 8 per core); spread over Gradio's worker threads, freed memory
    fragments and the server's resident memory creeps up under load. Two arenas kept it nearly flat
    (benchmarks/load.py). Must run before the worker threads start; a no-op off glibc or when
    MALLOC_ARENA_MAX is already set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)   # -8 = M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def checkpoints_note(folder: Path) -> str | None:
    """What to say when the folder holds no checkpoint: where it looked and how to point it at one."""
    from ..service import Catalog
    if Catalog(folder).names():
        return None
    return (f"no checkpoints (*.safetensors) in {folder.resolve()}: the app starts without models (the codebook "
            "lab still works). Point it at a folder of checkpoints with --checkpoints DIR or VQE_CHECKPOINTS=DIR, "
            "e.g. the checkpoints/ folder of a clone of the repository.")


def main(argv=None):
    from ..service import DEFAULT_CHECKPOINTS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", type=Path, default=DEFAULT_CHECKPOINTS,
                    help="folder of *.safetensors checkpoints (default: $VQE_CHECKPOINTS or "
                         f"{DEFAULT_CHECKPOINTS})")
    ap.add_argument("--open", action="append", default=[], metavar="PATH_OR_ID",
                    help="a VQ tokenizer to open beside the checkpoints: a diffusers VQModel folder or a Hub id "
                         "(hf://owner/name/subfolder); repeatable; also $VQE_OPEN (comma-separated)")
    ap.add_argument("--size", type=int, default=None,
                    help="pixels an opened tokenizer is shown its images at (default 128 on a CPU, where a large "
                         "tokenizer takes seconds at 256; 256 with CUDA)")
    ap.add_argument("--photos", type=Path, default=Path("docs/photos"),
                    help="the pictures an opened tokenizer is first shown and counts its codes over")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                    help="what opened tokenizers decode in: bf16 under bfloat16 autocast (about twice as fast "
                         "where the CPU has AVX512-BF16 or AMX), fp32, or auto (bf16 where the hardware has it); "
                         "codes are always computed in float32")
    ap.add_argument("--no-warm-up", action="store_true",
                    help="leave opened tokenizers' first screens (encode, decode, usage, atlas) to the first "
                         "visitor instead of computing them in the background as the server starts")
    ap.add_argument("--clear-view-cache", action="store_true",
                    help="remove the codebook views of opened tokenizers kept on disk ($VQE_VIEW_CACHE, default "
                         "~/.cache/vq-explorer/views; 'off' keeps none), then serve")
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = ap.parse_args(argv)
    note = checkpoints_note(args.checkpoints)
    if note:
        print(f"vq-explorer: {note}", file=sys.stderr)
    if args.clear_view_cache:
        from ..storage.views import ViewCache
        print(f"vq-explorer: removed {ViewCache().clear()} stored codebook views", file=sys.stderr)
    limit_threads()
    limit_malloc_arenas()
    precision = decode_precision(ap, args.precision)
    models = open_tokenizers(args.open + [s for s in os.environ.get("VQE_OPEN", "").split(",") if s.strip()],
                             args.size, args.photos)
    for model in models:
        model.precision = precision
    from ..ui import LAUNCH, build_demo
    build_demo(args.checkpoints, models, warm=not args.no_warm_up).launch(server_name=args.host,
                                                                          server_port=args.port, **LAUNCH)


def decode_precision(ap, precision: str) -> str:
    """"auto" resolved for the device the tokenizers run on; bf16 where the hardware lacks it ends the command
    with the reason."""
    from ..models.device import choose_device
    from ..models.training import resolve_precision
    try:
        return resolve_precision(precision, choose_device())
    except ValueError as e:
        ap.error(str(e))


def open_tokenizers(sources, size: int | None, photos) -> list:
    """The tokenizers that open; one line for each that does not (the app serves the rest)."""
    from ..storage.tokenizers import TokenizerError, open_tokenizer
    models = []
    for source in sources:
        try:
            models.append(open_tokenizer(source.strip(), size, photos))
            print(f"vq-explorer: opened {source.strip()}", file=sys.stderr)
        except TokenizerError as e:
            print(f"vq-explorer: not opened: {e}", file=sys.stderr)
    return models


if __name__ == "__main__":
    main()
