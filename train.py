"""Train a VQ-VAE and a prior over its code grids: `python train.py --help`. The same command as the installed
`vq-explorer-train`; the code is vq_explorer/commands/train.py."""

from vq_explorer.commands.train import *  # noqa: F401,F403  (python train.py keeps its module: tests and tools import it)
from vq_explorer.commands.train import main

if __name__ == "__main__":
    main()
