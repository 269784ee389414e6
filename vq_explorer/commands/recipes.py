"""How every shipped checkpoint is made: one recipe per file in checkpoints/, a dataset and train.py's
arguments. Budgets are epochs, so the same recipe gives the same model on any machine, busy or quiet, CPU or GPU;
`python -m vq_explorer.commands.rebuild` rebuilds them (in as many sittings as it takes)."""

import shlex

# The MNIST models differ only in the downsampling factor and train for the same epochs, so the trade-off
# between their grids is fair.
MNIST = "--num-codes 512 --vqvae-epochs 20 --prior-epochs 8 --prior-lr 1.5e-3"

RECIPES = {
    "mnist": ("mnist", f"--downsample 4 {MNIST}"),
    "mnist_4x4": ("mnist", f"--downsample 8 {MNIST}"),
    # CIFAR-10: a 128-channel trunk (192 channels gained 0.1 dB at epoch 2 for 1.7× the time:
    # benchmarks/cifar_widths.py), K = 1024 codes of 64 dimensions (10 bits a cell instead of 9, at almost no
    # cost), 50 epochs; a 96-channel × 12-layer class-conditional PixelCNN over the 8×8 grids for 15 epochs
    # (750,000 grids, more than the MNIST priors see; 74 minutes at bf16 on a 2-core Zen 4: train_speed.py).
    "cifar10": ("cifar10", "--downsample 4 --num-codes 1024 --channels 128 --code-dim 64 --vqvae-epochs 50 "
                           "--prior-epochs 15 --prior-channels 96 --prior-layers 12 --prior-lr 1e-3"),
    # The 14×14 grid by the same epochs, with a deeper prior: each of the PixelCNN's layers sees one cell
    # further, so the default 10 layers draw the bottom rows of a 14×14 grid without seeing its top (and lose
    # the class); 14 layers see every earlier cell (tests/test_pixelcnn.py), for about 1.4× the prior's time.
    "mnist_14x14": ("mnist", f"--downsample 2 {MNIST} --prior-layers 14"),
    # A second greyscale domain for the app: clothes instead of digits, by the 7×7 MNIST recipe exactly.
    "fashion_mnist": ("fashion_mnist", f"--downsample 4 {MNIST}"),
    # The other prior families over the very same VQ-VAE (identical codes): a GPT-style Transformer of about
    # the PixelCNN's size (0.93 M against 0.99 M parameters), and the masked Transformer.
    "mnist_transformer": ("mnist", "--vqvae-from checkpoints/mnist.safetensors --prior transformer "
                                   "--prior-dim 128 --prior-layers 4 --prior-heads 4 --prior-epochs 8 "
                                   "--prior-lr 1e-3"),
    "mnist_maskgit": ("mnist", "--vqvae-from checkpoints/mnist.safetensors --prior maskgit --prior-dim 128 "
                               "--prior-layers 4 --prior-heads 4 --prior-epochs 10 --prior-lr 1e-3"),
    # A masked Transformer over the colour model's codes, sampled with classifier-free guidance 2 by default:
    # the PixelCNN's CIFAR-10 samples keep each class's colours and layout but not its objects, and guidance is
    # the lever that made the MNIST masked prior's samples read as their class. 3.0 M parameters (192 wide,
    # 6 blocks), 16 epochs (2.5 hours in fp32 on a 2-core AMD EPYC without bf16, over two sittings): at 8 epochs
    # 52% of its samples read as their class and its test loss was still falling (8.70 bits per hidden code at
    # epoch 4, 8.61 at 8); at 16, 8.51 bits and 65.8%. 4 sampling steps by default: measured by
    # benchmarks/class_share.py, more samples read as their class and nearer the test images than at 8.
    "cifar10_maskgit": ("cifar10", "--vqvae-from checkpoints/cifar10.safetensors --prior maskgit --prior-dim 192 "
                                   "--prior-layers 6 --prior-heads 6 --prior-epochs 16 --prior-lr 1e-3 "
                                   "--prior-guidance 2 --prior-steps 4"),
    # The assignment's third option over the same codes: an LSTM over the flattened grid, 1.01 M parameters
    # (2 layers × 240 on embeddings of 128), for the PixelCNN's and the Transformer's 8 epochs.
    "mnist_rnn": ("mnist", "--vqvae-from checkpoints/mnist.safetensors --prior rnn --prior-dim 128 "
                           "--prior-hidden 240 --prior-layers 2 --prior-epochs 8 --prior-lr 1e-3"),
}

# Training images and image shape (count, channels, side) of the standard datasets: what an epoch costs.
DATASET_SHAPES = {"mnist": (60000, 1, 28), "fashion_mnist": (60000, 1, 28), "cifar10": (50000, 3, 32)}


def recipe_args(dataset: str, args: str):
    """A recipe as train.py's parsed arguments: its epochs, sizes and precision, read as training reads them."""
    from vq_explorer.commands.train import parse_args
    return parse_args(["--dataset", dataset, *shlex.split(args)])
