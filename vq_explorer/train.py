"""Train a VQ-VAE and a prior over its code grids (Gated PixelCNN, Transformer or masked Transformer), by stages.

    python train.py --dataset mnist                      # vqvae → encode → prior → export
    python train.py --dataset mnist --stage prior --resume
    python train.py --dataset mnist --name mnist_transformer --prior transformer \
        --vqvae-from checkpoints/mnist.safetensors       # a second prior over the same VQ-VAE's codes
    python train.py --dataset mnist --name mnist_maskgit --prior maskgit \
        --vqvae-from checkpoints/mnist.safetensors       # a masked prior: a grid in a few parallel steps
    torchrun --nproc_per_node=2 train.py --dataset mnist # DistributedDataParallel (gloo on CPU, nccl on GPU)

Stages write into the run folder (runs/<name>/): vqvae.safetensors and prior.safetensors (model + optimizer
state, resumable), codes.safetensors (the encoded train/test grids, computed once), metrics.jsonl,
curves.html/png, samples.png. The export stage writes checkpoints/<name>.safetensors, the file the app loads.
"""

import argparse
import hashlib
import json
import math
import os
import platform
import shlex
import signal
import sys
import time
from dataclasses import fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import BatchSampler, DistributedSampler
from tqdm import tqdm

from . import training
from .checkpoint import atomic_save_file, make_config, raw_metadata, remove_stale_temp_files, save
from .codebook import code_stats
from .config import (
    PRIOR_CONFIGS,
    QUANTIZERS,
    MaskGITConfig,
    PriorConfig,
    RNNConfig,
    TransformerConfig,
    VQVAEConfig,
    asdict,
    from_dict,
    quantizer_variant,
)
from .data import load_dataset, to_float
from .evaluate import evaluate, sample_sheet, save_sheet
from .model import VQModel
from .priors import build_prior
from .report import write_curves
from .vqvae import VQVAE


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    a("--epochs", type=float, default=None)
    a("--minutes", type=float, default=None, help="time budget per training stage")
    a("--vqvae-epochs", type=float, default=None)
    a("--vqvae-minutes", type=float, default=None)
    a("--prior-epochs", type=float, default=None)
    a("--prior-minutes", type=float, default=None)
    a("--batch-size", type=int, default=128)
    a("--lr", type=float, default=2e-3, help="VQ-VAE learning rate (cosine-decayed over the budget)")
    a("--prior-lr", type=float, default=1e-3)
    a("--label-dropout", type=float, default=0.1, help="share of prior batches trained without their class")
    # the VQ-VAE: one flag per VQVAEConfig field, its default the dataclass's (in_channels comes from the data)
    V = VQVAEConfig
    a("--downsample", type=int, default=V.downsample, help="image side / grid side, a power of two")
    a("--num-codes", type=int, default=V.num_codes, help="K, for the VQ-VAE and the prior")
    a("--code-dim", type=int, default=V.code_dim)
    a("--channels", type=int, default=V.channels)
    a("--res-blocks", type=int, default=V.res_blocks)
    a("--beta", type=float, default=V.beta, help="commitment weight")
    a("--no-ema", action="store_true", help="learn the codebook by its loss instead of EMA updates")
    a("--ema-decay", type=float, default=V.ema_decay)
    a("--ema-eps", type=float, default=V.ema_eps)
    a("--init", default=V.init, choices=["kmeans++", "random", "none"])
    a("--dead-after", type=int, default=V.dead_after, help="steps unused before a code counts as dead")
    a("--no-restart-dead", action="store_true", help="leave dead codes dead")
    a("--gradient", default=V.gradient, choices=["ste", "rotation"],
      help="the encoder's gradient past the codebook: straight-through or the rotation trick")
    a("--fsq-levels", type=int, nargs="*", default=[],
      help="finite scalar quantization with these levels (their product must be --num-codes)")
    a("--quantizer", default=None, choices=list(QUANTIZERS),
      help="a named quantizer variant (the codebook lab's); it sets the flags above that it concerns")
    a("--vqvae-from", default=None, metavar="CHECKPOINT",
      help="take the VQ-VAE of this exported checkpoint instead of training one (same codes, another prior)")
    # the prior: a flag per field of the families' configs; None means the chosen family's dataclass default
    a("--prior", default="pixelcnn", choices=list(PRIOR_CONFIGS), help="the prior family")
    a("--prior-layers", type=int, default=None, help="gated layers, Transformer blocks or LSTM layers "
      f"(default {PriorConfig.layers} / {TransformerConfig.layers} / {MaskGITConfig.layers} / {RNNConfig.layers})")
    a("--prior-channels", type=int, default=None, help=f"PixelCNN width (default {PriorConfig.channels})")
    a("--prior-kernel", type=int, default=None, help=f"PixelCNN kernel, odd (default {PriorConfig.kernel})")
    a("--prior-dim", type=int, default=None, help="Transformer width, or the RNN's embeddings "
      f"(default {TransformerConfig.dim} / {RNNConfig.dim})")
    a("--prior-hidden", type=int, default=None, help=f"RNN: the LSTM's state (default {RNNConfig.hidden})")
    a("--prior-heads", type=int, default=None, help=f"attention heads (default {TransformerConfig.heads})")
    a("--prior-class-per-block", action="store_true", default=None,
      help="Transformer: the class embedding before every block")
    a("--prior-steps", type=int, default=None,
      help=f"masked prior: default number of sampling steps (default {MaskGITConfig.steps})")
    a("--prior-choice-temperature", type=float, default=None,
      help="masked prior: noise on the confidences when choosing cells "
           f"(default {MaskGITConfig.choice_temperature})")
    a("--unconditional", action="store_true", help="ignore class labels")
    # running
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
    a("--inject-nan-at", type=int, default=None, help=argparse.SUPPRESS)   # tests: a NaN loss at this step
    a("--dump-rank-state", action="store_true", help=argparse.SUPPRESS)    # tests: each rank's final weights
    a("--throttle", type=float, default=0, help=argparse.SUPPRESS)  # tests: seconds of sleep per step/chunk/phase
    args = ap.parse_args(argv)
    args.name = args.name or Path(args.dataset.rstrip("/")).name
    args.out = args.out or f"checkpoints/{args.name}.safetensors"
    for stage in ("vqvae", "prior"):
        for kind in ("epochs", "minutes"):
            key = f"{stage}_{kind}"
            if getattr(args, key) is None:
                setattr(args, key, getattr(args, kind))
        if getattr(args, f"{stage}_epochs") is None and getattr(args, f"{stage}_minutes") is None:
            setattr(args, f"{stage}_epochs", 10)
    return args


# --- processes, stopping, state ---------------------------------------------------------------------------
def setup(args):
    """Single process, or one of torchrun's (RANK/WORLD_SIZE/LOCAL_RANK in the environment)."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    cuda = torch.cuda.is_available() and (args.device is None or args.device.startswith("cuda"))
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}" if cuda and world > 1 else args.device or ("cuda" if cuda else "cpu"))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    threads = args.threads or max(1, (os.cpu_count() or 1) // world)
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed + rank)
    try:
        args.precision = training.resolve_precision(args.precision, device)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    return rank, world, device


class Stop:
    """SIGINT/SIGTERM inside a training loop set a flag: the loop saves its state at the next step and exits.
    Anywhere else (loading data, encoding, exporting: nothing worth keeping half-way) they interrupt at once;
    every file is written atomically, so what is on disk stays complete either way.
    `deadline` (--stop-after-minutes) pauses the same way, at the next step past it, with exit status 0."""
    requested = False
    in_training_loop = False
    deadline = None

    @classmethod
    def past_deadline(cls, world: int) -> bool:
        late = cls.deadline is not None and time.time() >= cls.deadline
        if world > 1:   # every rank stops at the same step, whichever clock noticed first
            flag = torch.tensor([float(late)])
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            late = bool(flag.item())
        return late

    @classmethod
    def install(cls):
        def handler(signum, frame):
            if cls.requested or not cls.in_training_loop:  # a second Ctrl-C stops now; the saved state holds
                raise KeyboardInterrupt
            cls.requested = True
            print(f"\n{signal.Signals(signum).name}: saving and stopping (run again with --resume)",
                  file=sys.stderr)
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


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


def machine(device, world: int) -> str:
    """Where a stage ran, for the checkpoint's record: the GPU's name, or the CPU model and its threads."""
    if device.type == "cuda":
        return f"{world} × {torch.cuda.get_device_name(device)}"
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), None) if Path("/proc/cpuinfo").exists() else None
    return f"{model or platform.processor() or platform.machine()}, {world} × {torch.get_num_threads()} threads"


def throttle(args):
    """Tests only: slow every step, encoded chunk and export phase, so a signal can land inside any stage."""
    if args.throttle:
        time.sleep(args.throttle)


def rng_tensors(device) -> dict:
    """The random generators' states (label dropout, masks, code restarts draw from them), so a resumed stage
    draws exactly what the uninterrupted one would have."""
    out = {"rng.cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["rng.cuda"] = torch.cuda.get_rng_state(device)
    return out


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


def save_state(path, model, opt, info: dict, device=None):
    """Weights, optimizer and random generators: what resumes a stage, nothing else. A finished stage keeps only
    its weights (its optimizer has nothing left to do), so a committed partial rebuild stays small."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if not info.get("done"):
        tensors |= optimizer_tensors(opt) | rng_tensors(device or torch.device("cpu"))
    atomic_save_file(tensors, path, {"format": "vq-explorer-state/1", "info": json.dumps(info)})


def load_state(path, model, opt=None, device=None) -> dict:
    """Weights (and, given `opt`, the optimizer's state); given `device`, the random generators' states too
    (states written before they were saved resume with the generator as it is)."""
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if opt is not None:
        load_optimizer(opt, tensors)
    if device is not None and "rng.cpu" in tensors:
        torch.set_rng_state(tensors["rng.cpu"])
        if device.type == "cuda" and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    return json.loads(read_state_info(path))


def read_state_info(path) -> str:
    return raw_metadata(path)["info"]


class Log:
    """metrics.jsonl, one JSON object per line, written by rank 0 only."""

    def __init__(self, path, rank):
        self.path, self.rank = Path(path), rank

    def __call__(self, **row):
        if self.rank == 0:
            with open(self.path, "a") as f:
                f.write(json.dumps({"time": round(time.time(), 2), **row}) + "\n")


# --- the shared training loop -----------------------------------------------------------------------------
def train_stage(stage, model, config, opt, data, step_fn, eval_fn, args, run, rank, world, device, log,
                epochs, minutes, base_lr):
    """Epochs or a time budget, whichever ends first; the learning rate follows a cosine over that budget.

    `data` is a tuple of tensors indexed together; `step_fn(batch, step)` returns (loss, {name: value}).
    State (weights, optimizer, step, elapsed training time) is saved every --save-every seconds, at the end,
    and when SIGINT/SIGTERM arrives, so --resume continues from the last saved step.
    """
    state_path = run / f"{stage}.safetensors"
    raw = model.module if isinstance(model, DDP) else model
    n = len(data[0])
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    steps_per_epoch = max(1, len(sampler) // args.batch_size)
    total_steps = math.ceil(epochs * steps_per_epoch) if epochs else None
    step, elapsed, precision, where = 0, 0.0, args.precision, machine(device, world)
    if args.resume and state_path.exists():
        info = load_state(state_path, raw, opt, device)
        step, elapsed = info["step"], info["elapsed"]
        # A stage begun in one precision and resumed in another says so.
        before = info.get("precision", "fp32")
        precision = before if before.split(", then ")[-1] == args.precision else f"{before}, then {args.precision}"
        if info.get("machine") and info["machine"].split(", then ")[-1] != where:   # and so does one moved
            where = f"{info['machine']}, then {where}"
        if info.get("done"):
            print(f"[{stage}] already finished at step {step}; skipping") if rank == 0 else None
            return info
        print(f"[{stage}] resuming at step {step} ({elapsed / 60:.1f} min done)") if rank == 0 else None

    def progress():
        return max(step / total_steps if total_steps else 0, elapsed / 60 / minutes if minutes else 0)

    def checkpoint(done=False, **extra):
        info = {"stage": stage, "config": config, "step": step, "epoch": step / steps_per_epoch,
                "elapsed": elapsed, "done": done, "command": recorded_command(sys.argv),
                "machine": where, "precision": precision, **extra}
        if rank == 0:
            save_state(state_path, raw, opt, info, device)
        return info

    bar = tqdm(total=total_steps, initial=step, desc=stage, disable=rank != 0, dynamic_ncols=True,
               mininterval=1 if sys.stderr.isatty() else 15)
    last_save, t_epoch = time.time(), time.time()
    model.train()
    Stop.in_training_loop = True
    paused = Stop.past_deadline(world)
    while progress() < 1 and not Stop.requested and not paused:
        epoch, skip = divmod(step, steps_per_epoch)
        sampler.set_epoch(epoch)
        batches = (tuple(t[idx].to(device, non_blocking=True) for t in data)
                   for idx in list(BatchSampler(sampler, args.batch_size, drop_last=True))[skip:])
        try:
            for stats in training.steps(opt, step_fn, batches, base_lr, progress, step, args.inject_nan_at,
                                        lambda: training.autocast(device, args.precision)):
                step, lr, seconds = stats.pop("step"), stats.pop("lr"), stats.pop("seconds")
                elapsed += seconds
                ips = args.batch_size * world / max(seconds, 1e-9)
                bar.set_postfix({k: f"{v:.4g}" for k, v in stats.items()} | {"img/s": f"{ips:.0f}"}, refresh=False)
                bar.update()
                if step % 20 == 0:
                    log(stage=stage, step=step, epoch=round(step / steps_per_epoch, 3), lr=lr, ips=round(ips),
                        **stats)
                if time.time() - last_save > args.save_every:
                    checkpoint()
                    last_save = time.time()
                throttle(args)
                paused = Stop.past_deadline(world)
                if progress() >= 1 or Stop.requested or paused:
                    break
        except FloatingPointError as e:
            bar.close()
            raise FloatingPointError(f"[{stage}] {e}; stopped. The last good state is {state_path} (step saved "
                                     "before this one). Try a lower --lr, then --resume.") from None
        if step % steps_per_epoch == 0 or progress() >= 1:
            t_eval = time.time()
            figures = eval_fn() if rank == 0 else {}
            elapsed += time.time() - t_eval
            log(stage=stage, step=step, epoch=round(step / steps_per_epoch, 3), split="test", **figures)
            if rank == 0:
                bar.write(f"[{stage}] epoch {step / steps_per_epoch:.2f}: "
                          + ", ".join(f"{k} {v:.4g}" for k, v in figures.items())
                          + f" ({time.time() - t_epoch:.0f} s)")
            t_epoch = time.time()
            model.train()
    bar.close()
    Stop.in_training_loop = False
    info = checkpoint(done=not (Stop.requested or paused))
    if paused and not Stop.requested:
        if rank == 0:
            print(f"[{stage}] paused at step {step} of {total_steps or '?'} (--stop-after-minutes); state saved "
                  f"to {state_path}; run the same command with --resume to go on")
        if world > 1:
            dist.barrier()
        sys.exit(0)
    if Stop.requested:
        if world > 1:
            dist.barrier()
        print(f"[{stage}] stopped at step {step}; state saved to {state_path}") if rank == 0 else None
        sys.exit(130)
    if args.dump_rank_state:
        atomic_save_file(raw.state_dict(), run / f"{stage}.rank{rank}.safetensors", {})
    return info


# --- stages -----------------------------------------------------------------------------------------------
def vq_config(args, data) -> VQVAEConfig:
    cfg = VQVAEConfig(in_channels=data.channels, channels=args.channels, res_blocks=args.res_blocks,
                      downsample=args.downsample, num_codes=args.num_codes, code_dim=args.code_dim,
                      beta=args.beta, ema=not args.no_ema, ema_decay=args.ema_decay, ema_eps=args.ema_eps,
                      init=args.init, dead_after=args.dead_after, restart_dead=not args.no_restart_dead,
                      gradient=args.gradient, fsq_levels=list(args.fsq_levels))
    if cfg.fsq_levels and math.prod(cfg.fsq_levels) != cfg.num_codes:
        raise SystemExit(f"--fsq-levels {cfg.fsq_levels} make {math.prod(cfg.fsq_levels)} codes, not --num-codes "
                         f"{cfg.num_codes}")
    return quantizer_variant(cfg, args.quantizer) if args.quantizer else cfg


def adopt_vqvae(args, run, rank) -> dict:
    """--vqvae-from: the run's VQ-VAE state is the checkpoint's VQ-VAE, recorded as done, with the training
    record of the checkpoint (its commands, epochs, minutes, machine), so a second prior can be trained on the
    very same codes and its checkpoint still says how everything in it was made."""
    from .checkpoint import load
    path = run / "vqvae.safetensors"
    source = _sha(args.vqvae_from)
    if path.exists():
        info = json.loads(read_state_info(path))
        if info.get("source_sha") == source:
            return info
    model = load(args.vqvae_from, device="cpu")
    t = model.config.get("train", {})
    info = {"stage": "vqvae", "config": asdict(model.vqvae.cfg), "step": t.get("vqvae_steps", 0),
            "epoch": t.get("vqvae_epochs", 0), "elapsed": 60 * (t.get("vqvae_minutes") or 0), "done": True,
            "commands": t.get("commands", []), "machine": t.get("machine"), "source": str(args.vqvae_from),
            "precision": t.get("vqvae_precision", "fp32"),
            "source_sha": source}
    if rank == 0:
        save_state(path, model.vqvae, torch.optim.Adam(model.vqvae.parameters()), info)
        print(f"[vqvae] taken from {args.vqvae_from} ({info['epoch']} epochs); not trained here")
    return info


def stage_vqvae(args, data, run, rank, world, device, log):
    if args.vqvae_from:
        return adopt_vqvae(args, run, rank)
    cfg = vq_config(args, data)
    torch.manual_seed(args.seed + rank)   # each stage from its own seed: the same draws whether or not the
    model = VQVAE(cfg).to(device)         # stages before it ran in this process (a resumed rebuild)
    if device.type == "cpu":  # oneDNN convolutions run ~25% faster in channels-last layout on this CPU
        model = model.to(memory_format=torch.channels_last)
    if rank == 0:
        print(f"[vqvae] {sum(p.numel() for p in model.parameters()):,} parameters, grid "
              f"{model.grid_size(*data.image_size)}, K={cfg.num_codes}, d={cfg.code_dim}, ema={cfg.ema}")
    net = DDP(model, broadcast_buffers=False) if world > 1 else model
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    test_x = to_float(data.test_x[:2000]).to(device)

    def step_fn(batch, step):
        return training.vqvae_step(net, model.quantizer, to_float(batch[0]).contiguous(
            memory_format=torch.channels_last))

    @torch.no_grad()
    def eval_fn():
        model.eval()
        recon = model.decode(model.encode(test_x), data.image_size)
        return {"test_mse": F.mse_loss(recon, test_x).item()}

    info = train_stage("vqvae", net, asdict(cfg), opt, (data.train_x,), step_fn, eval_fn, args, run, rank, world,
                       device, log, args.vqvae_epochs, args.vqvae_minutes, args.lr)
    return info


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def load_vqvae(run, device) -> VQVAE:
    info = json.loads(read_state_info(run / "vqvae.safetensors"))
    model = VQVAE(from_dict(VQVAEConfig, info["config"])).to(device)
    load_state(run / "vqvae.safetensors", model)
    return model.eval()


@torch.no_grad()
def stage_encode(args, data, run, device):
    """Encode both splits once; the prior stage reads the grids instead of running the encoder each epoch."""
    codes_path, vq_path = run / "codes.safetensors", run / "vqvae.safetensors"
    source = _sha(vq_path)
    meta = raw_metadata(codes_path) if codes_path.exists() else {}
    if meta.get("vqvae_sha") == source and "seconds" in meta:  # (files without their timing are redone)
        print(f"[encode] {codes_path} is up to date")
        return
    model = load_vqvae(run, device)
    print(f"[encode] encoding {len(data.train_x)} + {len(data.test_x)} images")
    t0 = time.time()
    out = {}
    for split, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
        grids = []
        for i in tqdm(range(0, len(x), 1000), desc=f"encode {split}"):
            grids.append(model.encode(to_float(x[i:i + 1000]).to(device)).cpu())
            throttle(args)
        out[f"{split}_codes"], out[f"{split}_labels"] = torch.cat(grids).to(torch.int16), y
    atomic_save_file(out, codes_path, {"vqvae_sha": source, "seconds": f"{time.time() - t0:.1f}"})
    print(f"[encode] {len(data.train_x)} + {len(data.test_x)} grids of {tuple(out['test_codes'].shape[1:])} "
          f"→ {codes_path}")


def prior_config(args, data, num_codes, grid) -> PriorConfig | TransformerConfig | MaskGITConfig:
    """The chosen family's config: its dataclass defaults, overridden by the --prior-* flags given; K, the
    classes and the grid come from the VQ-VAE and the data."""
    classes = 0 if args.unconditional or not data.class_names else len(data.class_names)
    cls = PRIOR_CONFIGS[args.prior]
    names = {f.name for f in fields(cls)}
    given = {name: getattr(args, f"prior_{name}") for name in names if getattr(args, f"prior_{name}", None)
             is not None and name != "type"}
    derived = {"num_codes": num_codes, "num_classes": classes, "rows": grid[0], "cols": grid[1]}
    return cls(**given, **{k: v for k, v in derived.items() if k in names})


def stage_prior(args, data, run, rank, world, device, log):
    codes = load_file(str(run / "codes.safetensors"))
    train_g, train_y = codes["train_codes"].long(), codes["train_labels"].long()
    test_g, test_y = codes["test_codes"][:2000].long().to(device), codes["test_labels"][:2000].long().to(device)
    vq_info = json.loads(read_state_info(run / "vqvae.safetensors"))
    cfg = prior_config(args, data, vq_info["config"]["num_codes"], tuple(train_g.shape[1:]))
    torch.manual_seed(args.seed + rank + 1)
    model = build_prior(cfg).to(device)
    if rank == 0:
        width = {"pixelcnn": lambda: f"{cfg.channels} channels",
                 "rnn": lambda: f"LSTM {cfg.hidden} wide on embeddings of {cfg.dim}"}.get(
            cfg.type, lambda: f"dim {cfg.dim}, {cfg.heads} heads")()
        width += f", {cfg.steps} sampling steps" if cfg.type == "maskgit" else ""
        print(f"[prior] {cfg.type}, {sum(p.numel() for p in model.parameters()):,} parameters, {cfg.layers} "
              f"layers × {width}, classes={cfg.num_classes or 'none'}")
    net = DDP(model) if world > 1 else model
    opt = torch.optim.Adam(model.parameters(), lr=args.prior_lr)
    cells = train_g.shape[1] * train_g.shape[2]

    def step_fn(batch, step):
        g, y = batch
        if cfg.num_classes:
            # Some batches without their class teach the "no class" bias, so the same prior samples and
            # scores unconditionally too.
            drop = torch.rand(len(y), device=y.device) < args.label_dropout
            y = torch.where(drop, torch.full_like(y, cfg.num_classes), y)
        else:
            y = None
        if cfg.type == "maskgit":   # fill in a random share of hidden cells; the loss is on those only
            inputs, hidden = model.corrupt(g)
            nll = model.loss(net(inputs, y), g, hidden)
            return nll, {"bits/masked code": nll.item() / math.log(2)}
        nll = F.cross_entropy(net(g, y).float(), g)
        return nll, {"bits/code": nll.item() / math.log(2)}

    @torch.no_grad()
    def eval_fn():
        model.eval()
        y = test_y if cfg.num_classes else None
        if cfg.type == "maskgit":   # no likelihood: the masked-cell loss on the same random masks every epoch
            inputs, hidden = model.corrupt(test_g, torch.Generator(device=device).manual_seed(0))
            nll = model.loss(model(inputs, y), test_g, hidden).item()
            return {"test_bits/masked code": nll / math.log(2)}
        nll = -model.log_prob(test_g, y).mean().item()
        return {"test_bits/code": nll / cells / math.log(2), "test_bits/image": nll / math.log(2)}

    info = train_stage("prior", net, asdict(cfg), opt, (train_g, train_y), step_fn, eval_fn, args, run, rank,
                       world, device, log, args.prior_epochs, args.prior_minutes, args.prior_lr)
    return info


def train_record(args, run, vinfo: dict, pinfo: dict) -> dict:
    """What a checkpoint says of its training: the command lines that made it (the recipe, so the rebuild
    script can tell whether a file is current), epochs and wall-clock minutes of every stage, and where."""
    commands = sorted({c for i in (vinfo, pinfo) for c in i.get("commands", [i.get("command")]) if c})
    if not commands:  # states written before commands were recorded: the export's own command line
        commands = [recorded_command(sys.argv)]
    machines = sorted({i["machine"] for i in (vinfo, pinfo) if i.get("machine")})
    codes_meta = raw_metadata(run / "codes.safetensors")
    return {"commands": commands,
            "vqvae_epochs": round(vinfo["epoch"], 2), "prior_epochs": round(pinfo["epoch"], 2),
            "vqvae_steps": vinfo["step"], "prior_steps": pinfo["step"],
            "vqvae_minutes": round(vinfo["elapsed"] / 60, 3), "prior_minutes": round(pinfo["elapsed"] / 60, 3),
            "vqvae_precision": vinfo.get("precision", "fp32"), "prior_precision": pinfo.get("precision", "fp32"),
            "encode_minutes": round(float(codes_meta["seconds"]) / 60, 3) if "seconds" in codes_meta else None,
            "batch_size": args.batch_size, "seed": args.seed,
            "machine": " / ".join(machines) or machine(torch.device("cpu"), 1)}


def stage_export(args, data, run, device):
    vqvae = load_vqvae(run, "cpu")
    pinfo = json.loads(read_state_info(run / "prior.safetensors"))
    prior = build_prior(pinfo["config"])
    load_state(run / "prior.safetensors", prior)
    vinfo = json.loads(read_state_info(run / "vqvae.safetensors"))
    # A few test images per class travel with the checkpoint, so the app needs no dataset.
    per_class = max(1, args.examples // max(1, len(data.class_names or [0])))
    picks = torch.cat([torch.nonzero(data.test_y == c)[:per_class, 0] for c in data.test_y.unique()])
    picks = picks[: args.examples]
    config = make_config(vqvae.cfg, prior.cfg, data.name, data.image_size, data.class_names,
                         train=train_record(args, run, vinfo, pinfo))
    model = VQModel(vqvae.eval(), prior.eval(), config, {}, data.test_x[picks], data.test_y[picks])
    print(f"[export] evaluating on {len(data.test_x)} test images")
    t0 = time.time()
    model.metrics = evaluate(model, data.test_x, data.test_y)
    throttle(args)
    model.stats = code_stats(model, data.test_x)
    throttle(args)
    config["train"]["export_minutes"] = round((time.time() - t0) / 60, 3)
    save(model, args.out)
    images, _ = sample_sheet(model)
    save_sheet(images, run / "samples.png")
    width = max(len(k) for k in model.metrics)
    print("\n".join(f"  {k:{width}s}  {v:.5g}" if isinstance(v, float) else f"  {k:{width}s}  {v}"
                    for k, v in model.metrics.items()))
    print(f"[export] {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB), samples in {run / 'samples.png'}")


def summary(stage, info):
    keys = ("step", "epoch", "elapsed")
    print(f"| {stage} | " + " | ".join(f"{k} {info[k]:.4g}" if isinstance(info[k], float) else f"{k} {info[k]}"
                                       for k in keys) + " |")


def main(argv=None):
    args = parse_args(argv)
    rank, world, device = setup(args)
    Stop.install()
    run = Path(args.runs) / args.name
    run.mkdir(parents=True, exist_ok=True)
    if args.stop_after_minutes is not None:
        Stop.deadline = time.time() + 60 * args.stop_after_minutes
    if rank == 0:
        for path in (*(run / f"{s}.safetensors" for s in ("vqvae", "codes", "prior")), Path(args.out)):
            for tmp in remove_stale_temp_files(path):
                print(f"removed {tmp}, left by an interrupted write")
    log = Log(run / "metrics.jsonl", rank)
    stages = ["vqvae", "encode", "prior", "export"] if args.stage == "all" else [args.stage]
    t0, stage = time.time(), "data"
    try:
        data = load_dataset(args.dataset, args.data_root, args.image_size, args.in_channels or 3)
        if args.limit:
            data.train_x, data.train_y = data.train_x[: args.limit], data.train_y[: args.limit]
            data.test_x, data.test_y = data.test_x[: args.limit], data.test_y[: args.limit]
        if rank == 0:
            print(f"{data.name}: {len(data.train_x)} train / {len(data.test_x)} test images of "
                  f"{data.image_size}, {data.channels} channel(s); device {device}, {world} process(es), "
                  f"{torch.get_num_threads()} threads each")
        for stage in stages:
            if stage == "vqvae":
                summary("vqvae", stage_vqvae(args, data, run, rank, world, device, log))
            elif stage == "prior":
                summary("prior", stage_prior(args, data, run, rank, world, device, log))
            elif rank == 0:
                (stage_encode if stage == "encode" else stage_export)(args, data, run, device)
            if world > 1:
                dist.barrier()
            if rank == 0 and stage in ("vqvae", "prior") and (run / "metrics.jsonl").exists():  # (none yet
                write_curves(run / "metrics.jsonl", run / "curves")                               # if adopted)
    except FloatingPointError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"\n[{stage}] interrupted; files are only ever replaced whole, so every one on disk is complete. "
              "Run again with --resume.", file=sys.stderr)
        sys.exit(130)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    if rank == 0:
        print(f"done in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
