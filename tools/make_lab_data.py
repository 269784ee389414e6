"""Write the codebook lab's datasets: the first 5,000 training and 1,000 test images of MNIST and Fashion-MNIST,
uint8, in vq_explorer/service/lab_data/<name>.npz (a few MB in all), so the lab trains with no download.

    VQE_DATA_ROOT=/path/to/datasets python tools/make_lab_data.py
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vq_explorer.service.lab import LAB_DATA, SUBSET  # noqa: E402
from vq_explorer.storage.data import load_dataset  # noqa: E402

for name in ("mnist", "fashion_mnist"):
    d = load_dataset(name)
    n_train, n_test = SUBSET
    out = LAB_DATA / f"{name}.npz"
    np.savez_compressed(out, train=d.train_x[:n_train].numpy(), test=d.test_x[:n_test].numpy(),
                        test_labels=d.test_y[:n_test].numpy())
    print(out, f"{out.stat().st_size / 1e6:.2f} MB")
