"""train.py's command line. The model flags are generated from the config dataclasses, one per field, with the
field's default and its comment as help, so a new setting needs no new flag and the two cannot disagree."""

import argparse
from dataclasses import MISSING, fields
from pathlib import Path

from ..models import training
from ..models.config import CHOICES, PRIOR_CONFIGS, QUANTIZERS, VQVAEConfig, field_help

# Config fields that come from the data (the VQ-VAE's input channels) or from the VQ-VAE and the data (the
# prior's K, classes and grid), not from a flag of their own.
VQ_DERIVED = {"in_channels"}
PRIOR_DERIVED = {"type", "num_codes", "num_classes", "rows", "cols"}


def add_config_flags(ap, cls, prefix: str = "--", derived=VQ_DERIVED):
    """One flag per field of a config dataclass, its default the dataclass's, its help the field's comment: a
    True bool becomes --no-<field>, a False one --<field>, a list takes several values."""
    for f in fields(cls):
        if f.name in derived:
            continue
        flag, default = prefix + f.name.replace("_", "-"), f.default if f.default is not MISSING else []
        help_text = field_help(cls)[f.name].replace("%", "%%")
        if isinstance(default, bool):
            ap.add_argument(("--no-" + f.name.replace("_", "-")) if default else flag, dest=f.name,
                            action="store_false" if default else "store_true",
                            help=f"turn off (on by default): {help_text}" if default else help_text)
        elif isinstance(default, list):
            ap.add_argument(flag, type=int, nargs="*", default=default, help=help_text)
        else:
            ap.add_argument(flag, type=type(default), default=default, choices=CHOICES.get(f.name), help=help_text)


def add_prior_flags(ap):
    """A --prior-<field> flag per field of any family's config, None meaning the chosen family's default; the
    help says which families have the field and their defaults."""
    names = {}
    for family, cls in PRIOR_CONFIGS.items():
        for f in fields(cls):
            if f.name not in PRIOR_DERIVED:
                names.setdefault(f.name, []).append((family, cls, f))
    for name, owners in names.items():
        help_text = "; ".join(f"{family}: {field_help(cls)[name]} (default {f.default})"
                              for family, cls, f in owners).replace("%", "%%")
        flag = "--prior-" + name.replace("_", "-")
        if isinstance(owners[0][2].default, bool):
            ap.add_argument(flag, dest=f"prior_{name}", action="store_true", default=None, help=help_text)
        else:
            ap.add_argument(flag, dest=f"prior_{name}", type=type(owners[0][2].default), default=None,
                            help=help_text)


def parse_args(argv=None, description: str = __doc__):
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--dataset", default="mnist", help="mnist, fashion_mnist, cifar10, or a folder of images")
    a("--name", default=None, help="run and checkpoint name (default: the dataset's name)")
    a("--stage", default="all", choices=["vqvae", "encode", "prior", "export", "all"])
    a("--data-root", default=None,
      help="folder with the dataset files (default: $VQE_DATA_ROOT or ../shared/datasets)")
    a("--runs", default="runs", help="parent of the run folder")
    a("--out", default=None, help="exported checkpoint (default: checkpoints/<name>.safetensors)")
    a("--image-size", type=int, default=32, help="side for a folder of images")
    a("--in-channels", type=int, default=None, help="1 or 3 for a folder of images (default 3)")
    a("--limit", type=int, default=None, help="use only the first N training and test images")
    # budgets: --epochs/--minutes set both stages; the stage-specific ones override
    for stage in ("", "vqvae-", "prior-"):
        a(f"--{stage}epochs", type=float, default=None)
        a(f"--{stage}minutes", type=float, default=None, help=None if stage else "time budget per training stage")
    a("--batch-size", type=int, default=128)
    a("--lr", type=float, default=2e-3, help="VQ-VAE learning rate (cosine-decayed over the budget)")
    a("--prior-lr", type=float, default=1e-3)
    a("--label-dropout", type=float, default=0.1, help="share of prior batches trained without their class")
    add_config_flags(ap, VQVAEConfig)
    a("--quantizer", default=None, choices=list(QUANTIZERS),
      help="a named quantizer variant (the codebook lab's); it sets the flags above that it concerns")
    a("--vqvae-from", default=None, metavar="CHECKPOINT",
      help="take the VQ-VAE of this exported checkpoint instead of training one (same codes, another prior)")
    a("--prior", default="pixelcnn", choices=list(PRIOR_CONFIGS), help="the prior family")
    add_prior_flags(ap)
    a("--unconditional", action="store_true", help="ignore class labels")
    a("--seed", type=int, default=0)
    a("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when present)")
    a("--threads", type=int, default=None, help="torch CPU threads per process")
    a("--precision", default="auto", choices=list(training.PRECISIONS),
      help="bf16: encoder, decoder and prior under bfloat16 autocast, the quantizer and losses in float32; auto: "
           "bf16 on CUDA and on CPUs with AVX512-BF16 or AMX, else fp32")
    a("--resume", action="store_true", help="continue each stage from its last saved step")
    a("--save-every", type=float, default=60, help="seconds between resumable saves")
    a("--stop-after-minutes", type=float, default=None,
      help="pause when this sitting has run this long: save the state and exit 0 (--resume goes on); unlike "
           "--minutes it leaves the schedule, and so the model, as it was")
    a("--examples", type=int, default=40, help="test images shipped in the checkpoint for the app")
    return finish_args(ap.parse_args(argv))


def finish_args(args):
    """Names and budgets the flags leave implicit: a stage's own budget falls back to --epochs/--minutes, and
    to 10 epochs where neither is given."""
    args.name = args.name or Path(args.dataset.rstrip("/")).name
    args.out = args.out or f"checkpoints/{args.name}.safetensors"
    for stage in ("vqvae", "prior"):
        for kind in ("epochs", "minutes"):
            if getattr(args, f"{stage}_{kind}") is None:
                setattr(args, f"{stage}_{kind}", getattr(args, kind))
        if getattr(args, f"{stage}_epochs") is None and getattr(args, f"{stage}_minutes") is None:
            setattr(args, f"{stage}_epochs", 10)
    return args
