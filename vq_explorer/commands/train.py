"""Train a VQ-VAE and a prior over its code grids (Gated PixelCNN, Transformer, RNN or masked Transformer) by
stages.

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

import math
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

from ..models import training
from ..models.config import (
    PRIOR_CONFIGS,
    VQVAEConfig,
    asdict,
    from_dict,
    quantizer_variant,
)
from ..models.model import VQModel
from ..models.priors import build_prior
from ..models.usage import code_stats
from ..models.vqvae import VQVAE
from ..storage.checkpoint import (
    atomic_save_file,
    file_sha,
    make_config,
    raw_metadata,
    recorded_command,
    save,
    tokenizer_config,
    train_record,
)
from ..storage.data import load_dataset, to_float
from ..storage.state import load_state, read_info, rng_tensors, save_state
from ..views.report import write_curves
from . import flags
from .evaluate import evaluate, sample_sheet, save_sheet
from .flags import VQ_DERIVED
from .sitting import Context, Log, Progress, Stop, leave, open_run, resume, setup, summary


def parse_args(argv=None):
    return flags.parse_args(argv, __doc__)


# --- the shared training loop -----------------------------------------------------------------------------
def epoch_batches(data, sampler, step: int, steps_per_epoch: int, batch_size: int, device):
    """The rest of the current epoch's batches: a resumed stage skips those it has taken, in the same order."""
    epoch, skip = divmod(step, steps_per_epoch)
    sampler.set_epoch(epoch)
    return (tuple(t[idx].to(device, non_blocking=True) for t in data)
            for idx in list(BatchSampler(sampler, batch_size, drop_last=True))[skip:])


def report_step(ctx: Context, stage: str, p: Progress, lr: float, seconds: float, stats: dict, bar,
                steps_per_epoch: int):
    """A step taken: shown on the progress bar, logged every 20 steps."""
    ips = ctx.args.batch_size * ctx.world / max(seconds, 1e-9)
    bar.set_postfix({k: f"{v:.4g}" for k, v in stats.items()} | {"img/s": f"{ips:.0f}"}, refresh=False)
    bar.update()
    if p.step % 20 == 0:
        ctx.log(stage=stage, step=p.step, epoch=round(p.step / steps_per_epoch, 3), lr=lr, ips=round(ips), **stats)


def test_figures(ctx: Context, stage: str, p: Progress, eval_fn, epoch: float, bar, seconds: float):
    """The test figures at an epoch's end, logged and printed; their time counts as training time."""
    t_eval = time.time()
    figures = eval_fn() if ctx.rank == 0 else {}
    p.elapsed += time.time() - t_eval
    ctx.log(stage=stage, step=p.step, epoch=round(epoch, 3), split="test", **figures)
    if ctx.rank == 0:
        bar.write(f"[{stage}] epoch {epoch:.2f}: " + ", ".join(f"{k} {v:.4g}" for k, v in figures.items())
                  + f" ({seconds:.0f} s)")


def train_stage(ctx: Context, stage, model, config, opt, data, step_fn, eval_fn, epochs, minutes, base_lr):
    """Epochs or a time budget, whichever ends first; the learning rate follows a cosine over that budget.

    `data` is a tuple of tensors indexed together; `step_fn(batch, step)` returns (loss, {name: value}).
    State (weights, optimizer, step, elapsed training time) is saved every --save-every seconds, at the end,
    and when SIGINT/SIGTERM arrives, so --resume continues from the last saved step.
    """
    args, state_path = ctx.args, ctx.run / f"{stage}.safetensors"
    raw = model.module if isinstance(model, DDP) else model
    sampler = DistributedSampler(range(len(data[0])), num_replicas=ctx.world, rank=ctx.rank, shuffle=True,
                                 seed=args.seed)
    steps_per_epoch = max(1, len(sampler) // args.batch_size)
    total_steps = math.ceil(epochs * steps_per_epoch) if epochs else None
    p, finished = resume(ctx, stage, raw, opt, state_path)
    if finished:
        return finished

    def progress():
        return max(p.step / total_steps if total_steps else 0, p.elapsed / 60 / minutes if minutes else 0)

    def checkpoint(done=False):   # every rank calls it at the same step: the generators are gathered
        info = {"stage": stage, "config": config, "step": p.step, "epoch": p.step / steps_per_epoch,
                "elapsed": p.elapsed, "done": done, "command": recorded_command(sys.argv), "machine": p.machine,
                "precision": p.precision}
        rng = None if done else rng_tensors(ctx.device, ctx.world)
        if ctx.rank == 0:
            save_state(state_path, raw, opt, info, rng)
        return info

    bar = tqdm(total=total_steps, initial=p.step, desc=stage, disable=ctx.rank != 0, dynamic_ncols=True,
               mininterval=1 if sys.stderr.isatty() else 15)
    last_save, t_epoch = time.time(), time.time()
    model.train()
    Stop.in_training_loop = True
    paused, _ = Stop.past_deadline(ctx.world)
    while progress() < 1 and not Stop.requested and not paused:
        for batch in epoch_batches(data, sampler, p.step, steps_per_epoch, args.batch_size, ctx.device):
            lr = training.cosine_lr(base_lr, progress())   # a cosine over the budget: steps or minutes
            try:   # the networks in bf16 where chosen
                loss, stats, seconds = training.take_step(
                    opt, step_fn, batch, p.step, lambda: training.autocast(ctx.device, args.precision), lr)
            except FloatingPointError as e:
                bar.close()
                raise FloatingPointError(f"[{stage}] {e}; stopped. The last good state is {state_path} (step "
                                         "saved before this one). Try a lower --lr, then --resume.") from None
            p.step += 1
            p.elapsed += seconds
            report_step(ctx, stage, p, lr, seconds, {"loss": loss, **stats}, bar, steps_per_epoch)
            paused, due = Stop.past_deadline(ctx.world, time.time() - last_save > args.save_every)
            if due:
                checkpoint()
                last_save = time.time()
            if progress() >= 1 or Stop.requested or paused:
                break
        if p.step % steps_per_epoch == 0 or progress() >= 1:   # an epoch's end: the test figures
            test_figures(ctx, stage, p, eval_fn, p.step / steps_per_epoch, bar, time.time() - t_epoch)
            t_epoch = time.time()
            model.train()
    bar.close()
    Stop.in_training_loop = False
    info = checkpoint(done=not (Stop.requested or paused))
    leave(ctx, stage, p, paused, total_steps, state_path)
    return info


# --- stages -----------------------------------------------------------------------------------------------
def vq_config(args, data) -> VQVAEConfig:
    """The VQ-VAE's config from its flags (one per field), the input channels from the data."""
    cfg = VQVAEConfig(in_channels=data.channels, **{f.name: getattr(args, f.name) for f in fields(VQVAEConfig)
                                                     if f.name not in VQ_DERIVED})
    cfg.fsq_levels = list(cfg.fsq_levels)
    if cfg.fsq_levels and math.prod(cfg.fsq_levels) != cfg.num_codes:
        raise SystemExit(f"--fsq-levels {cfg.fsq_levels} make {math.prod(cfg.fsq_levels)} codes, not --num-codes "
                         f"{cfg.num_codes}")
    return quantizer_variant(cfg, args.quantizer) if args.quantizer else cfg


def adopt_tokenizer(args, run, rank) -> dict:
    """--vqvae-from a tokenizer made elsewhere (a diffusers VQModel folder or Hub id): the run's VQ-VAE state
    holds no weights, only which tokenizer it is (its source and its weights' SHA-256), recorded as done; the
    encode stage opens it, and the exported checkpoint names it instead of copying it."""
    from ..storage.tokenizers import open_tokenizer
    path = run / "vqvae.safetensors"
    model = open_tokenizer(args.vqvae_from)
    t = model.config["tokenizer"]
    if path.exists():
        info = read_info(path)
        if info.get("source_sha") == t["sha256"]:
            return info
    info = {"stage": "vqvae", "tokenizer": t, "step": 0, "epoch": 0, "elapsed": 0, "done": True, "commands": [],
            "config": {k: model.config[k] for k in ("num_codes", "code_dim", "downsample", "channels")},
            "source": str(args.vqvae_from), "source_sha": t["sha256"], "precision": "fp32"}
    if rank == 0:
        save_state(path, torch.nn.Module(), None, info)
        print(f"[vqvae] the tokenizer {args.vqvae_from} ({t['parameters'] / 1e6:.1f} M parameters, K = "
              f"{info['config']['num_codes']}, f = {info['config']['downsample']}); not trained here")
    return info


def adopt_vqvae(args, run, rank) -> dict:
    """--vqvae-from: the run's VQ-VAE state is the checkpoint's VQ-VAE, recorded as done, with the training
    record of the checkpoint (its commands, epochs, minutes, machine), so a second prior can be trained on the
    very same codes and its checkpoint still says how everything in it was made."""
    from ..storage.checkpoint import load
    from ..storage.tokenizers import is_tokenizer
    if is_tokenizer(args.vqvae_from):
        return adopt_tokenizer(args, run, rank)
    path = run / "vqvae.safetensors"
    source = file_sha(args.vqvae_from)
    if path.exists():
        info = read_info(path)
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


def stage_vqvae(ctx: Context, data):
    args, rank, world, device = ctx.args, ctx.rank, ctx.world, ctx.device
    if args.vqvae_from:
        return adopt_vqvae(args, ctx.run, rank)
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

    return train_stage(ctx, "vqvae", net, asdict(cfg), opt, (data.train_x,), step_fn, eval_fn, args.vqvae_epochs,
                       args.vqvae_minutes, args.lr)


def load_vqvae(run, device) -> VQVAE:
    """The run's VQ-VAE, or the tokenizer it names (opened again, and refused if its weights changed)."""
    info = read_info(run / "vqvae.safetensors")
    if "tokenizer" in info:
        from ..storage.tokenizers import open_named
        return open_named(info["tokenizer"], device).vqvae
    model = VQVAE(from_dict(VQVAEConfig, info["config"])).to(device)
    load_state(run / "vqvae.safetensors", model)
    return model.eval()


@torch.no_grad()
def stage_encode(args, data, run, device):
    """Encode both splits once; the prior stage reads the grids instead of running the encoder each epoch."""
    codes_path, vq_path = run / "codes.safetensors", run / "vqvae.safetensors"
    source = file_sha(vq_path)
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
        out[f"{split}_codes"], out[f"{split}_labels"] = torch.cat(grids).to(torch.int16), y
    atomic_save_file(out, codes_path, {"vqvae_sha": source, "seconds": f"{time.time() - t0:.1f}"})
    print(f"[encode] {len(data.train_x)} + {len(data.test_x)} grids of {tuple(out['test_codes'].shape[1:])} "
          f"→ {codes_path}")


def prior_config(args, data, num_codes, grid):
    """The chosen family's config: its dataclass defaults, overridden by the --prior-* flags given; K, the
    classes and the grid come from the VQ-VAE and the data."""
    classes = 0 if args.unconditional or not data.class_names else len(data.class_names)
    cls = PRIOR_CONFIGS[args.prior]
    names = {f.name for f in fields(cls)}
    given = {name: getattr(args, f"prior_{name}") for name in names if getattr(args, f"prior_{name}", None)
             is not None and name != "type"}
    derived = {"num_codes": num_codes, "num_classes": classes, "rows": grid[0], "cols": grid[1]}
    return cls(**given, **{k: v for k, v in derived.items() if k in names})


def stage_prior(ctx: Context, data):
    args, run, rank, world, device = ctx.args, ctx.run, ctx.rank, ctx.world, ctx.device
    codes = load_file(str(run / "codes.safetensors"))
    train_g, train_y = codes["train_codes"].long(), codes["train_labels"].long()
    test_g, test_y = codes["test_codes"][:2000].long().to(device), codes["test_labels"][:2000].long().to(device)
    cfg = prior_config(args, data, read_info(run / "vqvae.safetensors")["config"]["num_codes"],
                       tuple(train_g.shape[1:]))
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
    step_fn = prior_step_fn(cfg, model, net, args.label_dropout)
    eval_fn = prior_eval_fn(cfg, model, test_g, test_y)
    return train_stage(ctx, "prior", net, asdict(cfg), opt, (train_g, train_y), step_fn, eval_fn,
                       args.prior_epochs, args.prior_minutes, args.prior_lr)


def prior_step_fn(cfg, model, net, label_dropout: float):
    """One prior batch: the prior's own loss (each cell given the cells before it; a masked prior's hidden cells
    given the rest), through `net`, the network as wrapped for distributed training."""
    def step_fn(batch, step):
        g, y = batch
        if cfg.num_classes:
            # Some batches without their class teach the "no class" bias, so the same prior samples and
            # scores unconditionally too.
            drop = torch.rand(len(y), device=y.device) < label_dropout
            y = torch.where(drop, torch.full_like(y, cfg.num_classes), y)
        else:
            y = None
        nll = model.loss(g, y, forward=net)
        return nll, {model.loss_name: nll.item() / math.log(2)}
    return step_fn


def prior_eval_fn(cfg, model, test_g, test_y):
    """Test bits per code and per image (a masked prior: per hidden code, on the same masks every epoch)."""
    cells = test_g.shape[1] * test_g.shape[2]

    @torch.no_grad()
    def eval_fn():
        model.eval()
        y = test_y if cfg.num_classes else None
        if not model.exact_likelihood:   # no bits per image: the hidden cells' loss, on the same masks each time
            nll = model.loss(test_g, y, generator=torch.Generator(device=test_g.device).manual_seed(0)).item()
            return {f"test_{model.loss_name}": nll / math.log(2)}
        nll = -model.log_prob(test_g, y).mean().item()
        return {"test_bits/code": nll / cells / math.log(2), "test_bits/image": nll / math.log(2)}
    return eval_fn


def stage_export(args, data, run, device):
    vqvae = load_vqvae(run, "cpu")
    pinfo = read_info(run / "prior.safetensors")
    prior = build_prior(pinfo["config"])
    load_state(run / "prior.safetensors", prior)
    vinfo = read_info(run / "vqvae.safetensors")
    # A few test images per class travel with the checkpoint, so the app needs no dataset.
    per_class = max(1, args.examples // max(1, len(data.class_names or [0])))
    picks = torch.cat([torch.nonzero(data.test_y == c)[:per_class, 0] for c in data.test_y.unique()])
    picks = picks[: args.examples]
    codes_meta = raw_metadata(run / "codes.safetensors")
    encode_seconds = float(codes_meta["seconds"]) if "seconds" in codes_meta else None
    record = train_record(vinfo, pinfo, encode_seconds, args.batch_size, args.seed, sys.argv)
    if "tokenizer" in vinfo:   # a tokenizer made elsewhere: the checkpoint names it and holds the prior alone
        config = tokenizer_config(vinfo, prior.cfg, data, train=record)
    else:
        config = make_config(vqvae.cfg, prior.cfg, data.name, data.image_size, data.class_names, train=record)
    model = VQModel(vqvae.eval(), prior.eval(), config, {}, data.test_x[picks], data.test_y[picks])
    print(f"[export] evaluating on {len(data.test_x)} test images")
    t0 = time.time()
    model.metrics = evaluate(model, data.test_x, data.test_y)
    model.stats = code_stats(model, data.test_x)
    config["train"]["export_minutes"] = round((time.time() - t0) / 60, 3)
    save(model, args.out)
    images, _ = sample_sheet(model)
    save_sheet(images, run / "samples.png")
    width = max(len(k) for k in model.metrics)
    print("\n".join(f"  {k:{width}s}  {v:.5g}" if isinstance(v, float) else f"  {k:{width}s}  {v}"
                    for k, v in model.metrics.items()))
    print(f"[export] {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB), samples in {run / 'samples.png'}")


def read_data(args, rank: int, world: int, device):
    try:
        data = load_dataset(args.dataset, args.data_root, args.image_size, args.in_channels or 3)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    if args.limit:
        data.train_x, data.train_y = data.train_x[: args.limit], data.train_y[: args.limit]
        data.test_x, data.test_y = data.test_x[: args.limit], data.test_y[: args.limit]
    if rank == 0:
        print(f"{data.name}: {len(data.train_x)} train / {len(data.test_x)} test images of {data.image_size}, "
              f"{data.channels} channel(s); device {device}, {world} process(es), {torch.get_num_threads()} "
              "threads each")
    return data


def main(argv=None):
    args = parse_args(argv)
    rank, world, device = setup(args)
    Stop.install()
    run = open_run(args, rank)
    ctx = Context(args, run, rank, world, device, Log(run / "metrics.jsonl", rank))
    stages = ["vqvae", "encode", "prior", "export"] if args.stage == "all" else [args.stage]
    t0, stage = time.time(), "data"
    try:
        data = read_data(args, rank, world, device)
        for stage in stages:
            if stage == "vqvae":
                summary("vqvae", stage_vqvae(ctx, data))
            elif stage == "prior":
                summary("prior", stage_prior(ctx, data))
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
