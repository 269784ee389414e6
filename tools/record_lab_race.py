"""Record the codebook lab's first screen: a race of the plain quantizer against the shipped recipe's
(ema+kmeans+restart), MNIST, K = 256, 20 seconds, seed 0, as the Lab tab runs it; the tab shows it until the
visitor trains a race of their own.

    python tools/record_lab_race.py [--seconds 20]

writes vq_explorer/service/lab_data/recorded_race.safetensors.
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vq_explorer.service import lab  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    torch.set_num_threads(2)
    runs = [lab.start("mnist", v, 256, 16, 0) for v in ("plain", "ema+kmeans+restart")]
    for _ in lab.train(runs, args.seconds):
        pass
    frames = [lab.frame(r, lab.SUBSET[1]) for r in runs]
    summaries = [lab.summary(r, f) for r, f in zip(runs, frames, strict=True)]
    result = {"dataset": "mnist", **summaries[0], "compare": summaries[1]}
    lab.save_race(lab.RECORDED, runs, frames, result, args.seconds)
    print(result, f"→ {lab.RECORDED} ({lab.RECORDED.stat().st_size / 1e3:.0f} KB)")


if __name__ == "__main__":
    main()
