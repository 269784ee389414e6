"""How long one training step of a recipe's network takes on this machine: what the rebuild's `--left` and
`benchmarks/train_speed.py` turn into minutes. Random inputs of the dataset's shape at the recipe's batch size,
run as train.py runs them (channels-last VQ-VAE on a CPU; under bf16 the networks autocast, the quantizer and
losses stay float32)."""

import time

import torch

from vq_explorer.commands import train
from vq_explorer.commands.recipes import DATASET_SHAPES
from vq_explorer.models import training
from vq_explorer.models.priors import build_prior
from vq_explorer.models.vqvae import VQVAE


def stage_model(dataset: str, args, stage: str, device):
    """The recipe's network for `stage` (vqvae or prior), and a function giving one batch's training loss."""
    _, channels, side = DATASET_SHAPES[dataset]
    shape = type("Shape", (), {"channels": channels, "class_names": [str(i) for i in range(10)]})
    vq = train.vq_config(args, shape)
    if stage == "vqvae":
        model = VQVAE(vq).to(device)
        x = torch.rand(args.batch_size, channels, side, side, device=device)
        if device.type == "cpu":
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        return model, lambda: model(x).loss
    grid = VQVAE(vq).grid_size(side, side)
    model = build_prior(train.prior_config(args, shape, vq.num_codes, grid)).to(device)
    g = torch.randint(0, vq.num_codes, (args.batch_size, *grid), device=device)
    y = torch.randint(0, 10, (args.batch_size,), device=device)
    return model, lambda: model.loss(g, y)


def seconds_per_step(dataset: str, args, stage: str, precision: str, device, steps: int = 3, warmup: int = 2):
    """The plain mean of `steps` optimiser steps after `warmup` (the first steps pay for allocation)."""
    model, loss = stage_model(dataset, args, stage, device)
    opt = torch.optim.Adam(model.parameters())
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        training.take_step(opt, lambda batch, step: (loss(), {}), None, i,
                           lambda: training.autocast(device, precision))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps
