"""A sitting of train.py: its place among torchrun's processes, the signals and the deadline that pause it, the
metrics log, and how a stage resumes and leaves. What the training loop needs around it, so that
commands/train.py holds the stages and the loop itself."""

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from ..models import training
from ..storage.checkpoint import machine, remove_stale_temp_files
from ..storage.state import load_state


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
    def past_deadline(cls, world: int, save_due: bool = False) -> tuple[bool, bool]:
        """Whether the sitting's deadline has passed, and whether the state is to be saved now. With several
        ranks both are agreed, whichever clock noticed first: every rank stops, and saves its share of the state
        (its generators), at the same step."""
        flags = torch.tensor([float(cls.deadline is not None and time.time() >= cls.deadline), float(save_due)])
        if world > 1:
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return bool(flags[0]), bool(flags[1])

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


def say(ctx_or_rank, *parts, **kw):
    """print, on rank 0 only: torchrun's other ranks train in silence."""
    rank = ctx_or_rank if isinstance(ctx_or_rank, int) else ctx_or_rank.rank
    if rank == 0:
        print(*parts, **kw)


class Log:
    """metrics.jsonl, one JSON object per line, written by rank 0 only."""

    def __init__(self, path, rank):
        self.path, self.rank = Path(path), rank

    def __call__(self, **row):
        if self.rank == 0:
            with open(self.path, "a") as f:
                f.write(json.dumps({"time": round(time.time(), 2), **row}) + "\n")


@dataclass
class Context:
    """What every stage is given: the flags, the run folder, this process's place among torchrun's, the log."""
    args: argparse.Namespace
    run: Path
    rank: int
    world: int
    device: torch.device
    log: Log


@dataclass
class Progress:
    """Where a stage stands: steps taken, seconds trained, and the precision and machines it ran with."""
    step: int
    elapsed: float
    precision: str
    machine: str


def resume(ctx: Context, stage: str, raw, opt, state_path: Path) -> tuple[Progress, dict | None]:
    """The saved progress with --resume (weights, optimizer and generators loaded into `raw` and `opt`), else a
    fresh start; and the saved record when the stage has finished already."""
    here = machine(ctx.device, ctx.world)
    if not (ctx.args.resume and state_path.exists()):
        return Progress(0, 0.0, ctx.args.precision, here), None
    info = load_state(state_path, raw, opt, ctx.device, ctx.rank)
    # A stage begun in one precision, or on one machine, and resumed on another says so.
    before, where, now = info.get("precision", "fp32"), info.get("machine"), ctx.args.precision
    precision = before if before.split(", then ")[-1] == now else f"{before}, then {now}"
    here = f"{where}, then {here}" if where and where.split(", then ")[-1] != here else here
    if info.get("done"):
        say(ctx, f"[{stage}] already finished at step {info['step']}; skipping")
        return Progress(info["step"], info["elapsed"], precision, here), info
    say(ctx, f"[{stage}] resuming at step {info['step']} ({info['elapsed'] / 60:.1f} min done)")
    return Progress(info["step"], info["elapsed"], precision, here), None


def leave(ctx: Context, stage: str, p: Progress, paused: bool, total_steps, state_path: Path):
    """After the loop: a pause (--stop-after-minutes) exits 0, a signal 130, both with the state saved."""
    if paused and not Stop.requested:
        say(ctx, f"[{stage}] paused at step {p.step} of {total_steps or '?'} (--stop-after-minutes); state saved "
                 f"to {state_path}; run the same command with --resume to go on")
        if ctx.world > 1:
            dist.barrier()
        sys.exit(0)
    if Stop.requested:
        if ctx.world > 1:
            dist.barrier()
        say(ctx, f"[{stage}] stopped at step {p.step}; state saved to {state_path}")
        sys.exit(130)


def open_run(args, rank: int) -> Path:
    """The run folder, cleared of temporary files an interrupted write left; the sitting's deadline set."""
    run = Path(args.runs) / args.name
    run.mkdir(parents=True, exist_ok=True)
    if args.stop_after_minutes is not None:
        Stop.deadline = time.time() + 60 * args.stop_after_minutes
    if rank == 0:
        for path in (*(run / f"{s}.safetensors" for s in ("vqvae", "codes", "prior")), Path(args.out)):
            for tmp in remove_stale_temp_files(path):
                print(f"removed {tmp}, left by an interrupted write")
    return run


def summary(stage, info):
    keys = ("step", "epoch", "elapsed")
    print(f"| {stage} | " + " | ".join(f"{k} {info[k]:.4g}" if isinstance(info[k], float) else f"{k} {info[k]}"
                                       for k in keys) + " |")
