#!/usr/bin/env bash
# The models of the speed/quality trade-off (README "Trade-off"), trained one after another on a 2-core CPU.
# MNIST: the same K and the same budget (7 + 11 minutes) at downsample 2, 4 and 8 — the shipped mnist model is
# the downsample-4 one. Fashion-MNIST and CIFAR-10: two grid sizes each at a shorter budget (3 + 5 minutes; CIFAR-10 3 + 4).
# Each run prints its own timing; checkpoints land in checkpoints/ (shipped) or runs/tradeoff/ (measured only).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
mnist="--dataset mnist --num-codes 512 --vqvae-minutes 7 --prior-minutes 11 --prior-lr 1.5e-3"
short="--num-codes 512 --vqvae-minutes 3 --prior-minutes 5 --prior-lr 1.5e-3"
cifar="--num-codes 512 --vqvae-minutes 3 --prior-minutes 4 --prior-lr 1.5e-3"
[ "${1:-}" = "--skip-mnist" ] || {
  $py train.py $mnist --downsample 2 --name mnist_14x14 --out checkpoints/mnist_14x14.safetensors
  $py train.py $mnist --downsample 8 --name mnist_4x4 --out checkpoints/mnist_4x4.safetensors
}
$py train.py --dataset fashion_mnist $short --downsample 2 --name fashion_14x14 --out runs/tradeoff/fashion_14x14.safetensors
$py train.py --dataset fashion_mnist $short --downsample 4 --name fashion_7x7 --out runs/tradeoff/fashion_7x7.safetensors
$py train.py --dataset cifar10 $cifar --downsample 2 --name cifar10_16x16 --out runs/tradeoff/cifar10_16x16.safetensors
$py train.py --dataset cifar10 $cifar --downsample 4 --name cifar10_8x8 --out runs/tradeoff/cifar10_8x8.safetensors
