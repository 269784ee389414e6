"""The shipped checkpoints against the thresholds their issues set, on test subsets kept as fixtures (no dataset
folder needed): the first 1,000 MNIST and Fashion-MNIST test images, class-conditional samples read by the
project's small classifier for each, the first 500 CIFAR-10 test images. Every file in checkpoints/ must be
listed here and made by its recipe in vq_explorer/commands/recipes.py, so nothing ships untested or
untraceable."""

import math
import shlex
from pathlib import Path

import pytest
import torch

import vq_explorer as vqe
from vq_explorer.commands.evaluate import evaluate, sample_accuracy
from vq_explorer.storage.checkpoint import load_classifier

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"
FIXTURES = Path(__file__).parent / "fixtures"

# name → grid and the thresholds the tests enforce. The targets, where the shipped model falls short of
# them, are in docs/models.md with what the model reached and at how many epochs.
# Sample thresholds sit about three standard errors below the figure measured on 500 samples, so a healthy
# model does not fail by chance on the 300 drawn here.
SHIPPED = {
    # measured: MSE 0.00163, 27.9 dB, perplexity 388 on these 1,000; 95.2% of 500 samples (96.7% of these 300).
    # The targets: MSE ≤ 0.0015 (28.2 dB; not reached), perplexity ≥ 200, samples ≥ 95% of 500 (reached).
    "mnist": {"grid": [7, 7], "mse": 0.0018, "psnr": 27.4, "perplexity": 200, "accuracy": 0.92},
    # measured: MSE 0.00506, 23.0 dB, perplexity 447 on these 1,000; 96.8% of 500 samples (96.0% of these 300).
    # The target: samples ≥ 95% (reached); it sets none for reconstruction at 4×4.
    "mnist_4x4": {"grid": [4, 4], "mse": 0.0056, "psnr": 22.5, "perplexity": 300, "accuracy": 0.92},
    # The same VQ-VAE as mnist, a Transformer prior. Measured: 205.0 bits/image on these 1,000 (the PixelCNN:
    # 216); 92.6% of 500 samples (90.7% of these 300). The Transformer issue's aim — samples read as their class
    # at least as often as the PixelCNN's — is not reached (95.2%): docs/models.md says so.
    "mnist_transformer": {"grid": [7, 7], "mse": 0.0018, "psnr": 27.4, "perplexity": 200, "accuracy": 0.88},
    # The same VQ-VAE as mnist, a masked prior (MaskGIT) sampled in its default 8 parallel steps. Measured: 97.8%
    # of 500 samples (98.0% of these 300). The masked-prior issue's aim: within 3 points of the PixelCNN (95.2%).
    "mnist_maskgit": {"grid": [7, 7], "mse": 0.0018, "psnr": 27.4, "perplexity": 200, "accuracy": 0.93},
    # The same VQ-VAE as mnist, an LSTM prior (the assignment's RNN). Measured: 232.6 bits/image on the full test
    # split (the PixelCNN: 215.8); 92.6% of 500 samples read as their class.
    "mnist_rnn": {"grid": [7, 7], "mse": 0.0018, "psnr": 27.4, "perplexity": 200, "accuracy": 0.88},
    # The colour model. The targets on the full test split: PSNR ≥ 25.0 dB and perplexity ≥ 350 of 512
    # codes; its K is 1024, so the usage threshold scales with it (≥ 700 of 1024).
    # Measured on the full test split: 25.45 dB, perplexity 822, 496.9 bits/image = 0.162 bits per dimension (a
    # uniform prior over 1024 codes: 0.208). 17.2 MB: 3.9 M parameters in float32. 37.6% of 500 samples read as
    # their class by the CIFAR-10 classifier (tests/fixtures/cifar10_classifier.safetensors, 92.5% on the test
    # split).
    "cifar10": {"dataset": "cifar10", "grid": [8, 8], "psnr": 25.0, "perplexity": 700, "bits_per_dim": 0.17,
                "max_mb": 20, "accuracy": 0.29},
    # The same VQ-VAE as cifar10, a masked prior (16 epochs) sampled with guidance 2 in 4 steps (its defaults).
    # Measured: 65.8% of 500 samples read as their class by the same classifier (67.0% of these 300; the VQ-VAE's
    # own reconstructions of test images: 68.8%). The target for colour samples: at least 60%.
    "cifar10_maskgit": {"dataset": "cifar10", "grid": [8, 8], "psnr": 25.0, "perplexity": 700, "max_mb": 20,
                        "accuracy": 0.60},
    # The 14-layer prior (a 10-layer one could not see the whole grid). Measured: MSE 0.000220, 36.6 dB, perplexity
    # 188, 371.0 bits/image on these 1,000; 90.4% of 500 samples (91.7% of these 300). The target, ≥ 90%
    # of 500 samples read as their class at the MNIST recipe's epochs, is reached, by less than a standard error.
    "mnist_14x14": {"grid": [14, 14], "mse": 0.00025, "psnr": 36.0, "perplexity": 180, "accuracy": 0.86},
    # The second greyscale domain, by the mnist recipe (7×7). Measured: MSE 0.00366, 24.4 dB, perplexity 342 on
    # these 1,000; 86.0% of 500 samples read as their class by the Fashion-MNIST classifier (86.0% of these 300).
    # The issue sets it no thresholds; these sit three standard errors below what it reached.
    "fashion_mnist": {"dataset": "fashion_mnist", "grid": [7, 7], "mse": 0.0040, "psnr": 24.0, "perplexity": 300,
                      "accuracy": 0.80},
}
CLASS_NAMES = {"mnist": [str(i) for i in range(10)], "cifar10": ["airplane", "automobile", "bird", "cat", "deer",
                                                                "dog", "frog", "horse", "ship", "truck"],
               "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                 "Sneaker", "Bag", "Ankle boot"]}


def dataset(name: str) -> str:
    return SHIPPED[name].get("dataset", "mnist")


@pytest.fixture(scope="module")
def fashion_1000():
    """The first 1,000 Fashion-MNIST test images (uint8, N×1×28×28) and labels."""
    import numpy as np
    d = np.load(FIXTURES / "fashion_mnist_test_1000.npz")
    return torch.from_numpy(d["images"]), torch.from_numpy(d["labels"]).long()


def shipped_files():
    return sorted(p.stem for p in CHECKPOINTS.glob("*.safetensors"))


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def shipped(request):
    path = CHECKPOINTS / f"{request.param}.safetensors"
    if not path.exists():
        pytest.skip(f"{path.name} is not built (python -m vq_explorer.commands.rebuild {request.param})")
    return request.param, vqe.load(path, device="cpu")


def test_every_shipped_checkpoint_is_tested_and_made_by_its_recipe():
    from vq_explorer.commands import rebuild as script
    assert "mnist" in shipped_files()   # the app's default
    for name in shipped_files():
        assert name in SHIPPED, f"{name}: shipped without thresholds in tests/test_shipped.py"
        (build,) = script.builds([name], CHECKPOINTS, root=ROOT)
        train = build.recorded()[0]["train"]
        if not build.is_current():
            # A changed recipe is rebuilt over several sittings: the earlier checkpoint ships meanwhile, but
            # only while the rebuild of exactly this recipe is paused in checkpoints/partial/.
            assert script.rebuild_in_progress(build), (
                f"{name}: made by {train['commands']}, not by its recipe, and no rebuild of the recipe is in "
                f"{build.run}")
            continue
        recorded = {script.recipe_key(c) for c in train["commands"]}
        assert script.recipe_key(shlex.join(build.command())) in recorded, (name, train["commands"])
        assert recorded == set(map(script.recipe_key, build.expected_commands())), name
        recipe = shlex.split(build.args)
        for stage in ("vqvae", "prior"):   # the epochs it records are the ones its recipe (or its source) asks for
            flag = f"--{stage}-epochs"
            if flag in recipe:
                assert train[f"{stage}_epochs"] == pytest.approx(float(recipe[recipe.index(flag) + 1]),
                                                                 abs=0.01), (name, train)
            else:
                assert stage == "vqvae" and "--vqvae-from" in recipe, (name, stage)
        assert train["machine"] and all(train[f"{s}_minutes"] > 0 for s in ("vqvae", "encode", "prior", "export"))
        for stage in ("vqvae", "prior"):   # each stage's precision: a shipped model says how it was trained
            assert train.get(f"{stage}_precision", "").split(", then ")[-1] in ("fp32", "bf16"), (name, train)


def test_shipped_config_is_as_promised(shipped):
    name, m = shipped
    c = m.config
    assert c["grid"] == SHIPPED[name]["grid"] and c["class_names"] == CLASS_NAMES[dataset(name)]
    assert m.prior.cfg.num_classes == 10
    assert (CHECKPOINTS / f"{name}.safetensors").stat().st_size < SHIPPED[name].get("max_mb", 10) * 1e6
    assert m.examples is not None and len(m.examples) >= 30 and "usage" in m.stats


def test_shipped_reconstruction_on_test_images(shipped, request):
    name, m = shipped
    want = SHIPPED[name]
    x, y = request.getfixturevalue({"mnist": "mnist_1000", "cifar10": "cifar_500",
                                    "fashion_mnist": "fashion_1000"}[dataset(name)])
    got = evaluate(m, x, y)
    assert got["mse"] <= want.get("mse", 1) and got["psnr"] >= want["psnr"], (name, got)
    assert got["perplexity"] >= want["perplexity"], (name, got)
    if "bits_per_dim" in want:   # bits per image over the image's values (pixels × channels)
        assert got["bits_per_image"] / x[0].numel() <= want["bits_per_dim"], (name, got)


def test_shipped_samples_are_read_as_their_class(shipped):
    name, m = shipped
    if "accuracy" not in SHIPPED[name]:
        pytest.skip(f"no classifier reads {dataset(name)} samples")
    clf = load_classifier(FIXTURES / f"{dataset(name)}_classifier.safetensors")
    accuracy = sample_accuracy(m, clf, per_class=30, seed=1)
    assert accuracy >= SHIPPED[name]["accuracy"], (name, accuracy)


def test_sample_accuracy_counts_agreement_with_the_requested_class():
    """A classifier that always answers 3 agrees with one class in ten, whatever the model draws."""
    from conftest import make_tiny_model

    class Always3:
        def predict(self, x):
            return torch.full((len(x),), 3)

    model = make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28))
    assert sample_accuracy(model, Always3(), per_class=4) == pytest.approx(0.1)


def test_the_colour_classifier_reads_cifar10_test_images_as_their_class(cifar_500):
    """The CIFAR-10 share means something only if the judge is good: ≥ 90% on real test images (92.5% on the
    whole test split; these 500 are among them)."""
    x, y = cifar_500
    clf = load_classifier(FIXTURES / "cifar10_classifier.safetensors")
    assert float((clf.predict(x.float() / 255) == y).float().mean()) >= 0.90


def test_the_classifier_can_tell_a_wrong_class():
    """The sample check means something only if the classifier disagrees with wrong labels."""
    m = vqe.load(CHECKPOINTS / "mnist.safetensors", device="cpu")
    clf = load_classifier(FIXTURES / "mnist_classifier.safetensors")
    labels = torch.arange(10).repeat_interleave(10)
    images = m.decode(m.sample(100, labels=labels, seed=0))
    assert float((clf.predict(images) == (labels + 1) % 10).float().mean()) < 0.2


def test_the_transformer_model_shares_the_default_models_vqvae(mnist_1000):
    """Both priors model the very same codes: the Transformer checkpoint's VQ-VAE is mnist.safetensors's. And
    on those codes the Transformer assigns the test digits fewer bits than the PixelCNN (205 against 216)."""
    pixelcnn = vqe.load(CHECKPOINTS / "mnist.safetensors", "cpu")
    transformer = vqe.load(CHECKPOINTS / "mnist_transformer.safetensors", "cpu")
    assert isinstance(pixelcnn.prior, vqe.GatedPixelCNN) and isinstance(transformer.prior, vqe.GridTransformer)
    a, b = pixelcnn.vqvae.state_dict(), transformer.vqvae.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x, y = mnist_1000
    grids = pixelcnn.encode(x.float() / 255)
    bits = [float(-m.log_prob(grids, y).mean()) / math.log(2) for m in (pixelcnn, transformer)]
    assert bits[1] < bits[0] - 5, bits


def test_the_masked_model_shares_the_vqvae_and_fills_a_grid_in_its_steps():
    """The masked prior models mnist's very codes too, and writes a whole grid in the 8 parallel steps its
    checkpoint asks for, with the cosine schedule's 1, 3, 5, 6, 7, 9, 9, 9 cells."""
    pixelcnn = vqe.load(CHECKPOINTS / "mnist.safetensors", "cpu")
    masked = vqe.load(CHECKPOINTS / "mnist_maskgit.safetensors", "cpu")
    assert isinstance(masked.prior, vqe.MaskedTransformer) and masked.prior.cfg.steps == 8
    a, b = pixelcnn.vqvae.state_dict(), masked.vqvae.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = list(masked.sample_steps(2, labels=torch.tensor([3, 7]), seed=0))
    assert [int(s.cells[0].sum()) for s in steps] == [1, 3, 5, 6, 7, 9, 9, 9]
    assert (steps[-1].grid >= 0).all()


def test_the_rnn_model_shares_the_vqvae_and_its_hidden_state_samples_as_the_full_pass(mnist_1000):
    """The RNN prior models mnist's very codes as well; its sampler, one LSTM step per cell from the carried
    hidden state, draws exactly what re-reading the whole sequence for every cell draws."""
    path = CHECKPOINTS / "mnist_rnn.safetensors"
    if not path.exists():
        pytest.skip("mnist_rnn.safetensors is not built (python -m vq_explorer.commands.rebuild mnist_rnn)")
    pixelcnn, rnn = vqe.load(CHECKPOINTS / "mnist.safetensors", "cpu"), vqe.load(path, "cpu")
    assert type(rnn.prior).__name__ == "GridRNN" and rnn.prior.cfg.layers == 2
    a, b = pixelcnn.vqvae.state_dict(), rnn.vqvae.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    labels = torch.tensor([1, 8])
    cached = rnn.sample(2, labels=labels, seed=3)
    assert torch.equal(cached, rnn.sample(2, labels=labels, seed=3, cached=False))
    x, y = mnist_1000   # the measured weakness: on the same codes, more bits than the PixelCNN gives them
    grids = pixelcnn.encode(x.float() / 255)
    bits = [float(-m.log_prob(grids, y).mean()) / math.log(2) for m in (pixelcnn, rnn)]
    assert bits[1] > bits[0] + 5, bits
