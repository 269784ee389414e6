import json
import pickle

import pytest
import torch
from conftest import make_tiny_model
from safetensors.torch import save_file

import vq_explorer as vqe
from vq_explorer.storage import checkpoint


@pytest.fixture
def saved(tmp_path):
    m = make_tiny_model()
    path = tmp_path / "tiny.safetensors"
    vqe.save(m, path)
    return m, path


def test_round_trip_gives_identical_outputs(saved):
    m, path = saved
    m2 = vqe.load(path, device="cpu")
    x = torch.rand(3, 1, 12, 12)
    idx = m.encode(x)
    assert torch.equal(idx, m2.encode(x))
    assert torch.equal(m.decode(idx), m2.decode(idx))
    labels = torch.tensor([0, 1, 2])
    assert torch.equal(m.log_prob(idx, labels), m2.log_prob(idx, labels))
    assert torch.equal(m.sample(3, labels=labels, seed=3), m2.sample(3, labels=labels, seed=3))
    assert m2.config == m.config and m2.metrics == {"mse": 0.5}
    assert torch.equal(m2.examples, m.examples) and torch.equal(m2.example_labels, m.example_labels)
    assert not m2.vqvae.training and not m2.prior.training


def test_bundle_api_shapes_and_ranges(saved):
    m = vqe.load(saved[1], device="cpu")
    assert m.config["grid"] == [3, 3] and m.config["num_codes"] == 32
    assert m.config["class_names"] == ["a", "b", "c"]
    idx = m.encode(torch.rand(2, 1, 12, 12))
    assert idx.shape == (2, 3, 3) and idx.dtype == torch.int64
    img = m.decode(idx)
    assert img.shape == (2, 1, 12, 12) and img.dtype == torch.float32 and 0 <= img.min() and img.max() <= 1
    assert m.log_prob_cells(idx).shape == (2, 3, 3) and m.log_prob(idx).shape == (2,)
    g = m.sample(2, labels=torch.tensor([1, 2]), seed=0)
    assert g.shape == (2, 3, 3)
    steps = list(m.sample_steps(2, labels=torch.tensor([1, 2]), seed=0))
    assert len(steps) == 9 and torch.equal(steps[-1].grid, g)


def test_metadata_fields(saved):
    meta = checkpoint.read_metadata(saved[1])
    assert meta["format"] == "vq-explorer/1" and meta["dataset"] == "tiny" and meta["created"]
    assert meta["config"]["downsample"] == 4


def test_failed_write_keeps_the_previous_file(saved, monkeypatch):
    m, path = saved
    before = path.read_bytes()

    def boom(f, data):
        f.write(data[:len(data) // 2])                  # the disk fills up part way through the write
        f.flush()
        raise OSError("No space left on device")
    monkeypatch.setattr(checkpoint, "_write_durably", boom)
    with pytest.raises(OSError):
        vqe.save(m, path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]   # no temporary file left behind


def _write_bad(tmp_path, kind, good):
    p = tmp_path / f"{kind}.safetensors"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "random":
        p.write_bytes(bytes(range(256)) * 40)
    elif kind == "truncated":
        p.write_bytes(good.read_bytes()[:-500])
    elif kind == "pickle":
        p.write_bytes(pickle.dumps({"vqvae.x": [1, 2, 3]}))
    elif kind == "foreign":
        save_file({"weight": torch.zeros(3)}, p, metadata={"format": "pt"})
    elif kind == "no_metadata":
        save_file({"weight": torch.zeros(3)}, p)
    elif kind in ("broken_json", "wrong_shapes", "missing_tensors"):
        from safetensors import safe_open
        with safe_open(str(good), "pt") as f:
            meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
        if kind == "broken_json":
            meta["config"] = "{not json"
        elif kind == "wrong_shapes":
            cfg = json.loads(meta["config"])
            cfg["prior"]["channels"] = 24
            meta["config"] = json.dumps(cfg)
        else:
            tensors = {k: v for k, v in tensors.items() if not k.startswith("prior.")}
        save_file(tensors, p, metadata=meta)
    return p


@pytest.mark.parametrize("kind", ["empty", "random", "truncated", "pickle", "foreign", "no_metadata",
                                  "broken_json", "wrong_shapes", "missing_tensors"])
def test_bad_files_are_refused_with_a_message_naming_them(saved, tmp_path, kind):
    p = _write_bad(tmp_path, kind, saved[1])
    with pytest.raises(vqe.CheckpointError) as err:
        vqe.load(p)
    assert p.name in str(err.value)


class _Payload:
    """Unpickling this runs code: it would create the file named `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_malicious_pickle_is_refused_without_running_it(tmp_path):
    from vq_explorer.storage.checkpoint import read_metadata
    marker = tmp_path / "pwned"
    for name in ("evil.safetensors", "evil.pt.safetensors"):
        p = tmp_path / name
        p.write_bytes(pickle.dumps({"vqvae.x": _Payload(marker)}))
        with pytest.raises(vqe.CheckpointError, match=name):
            vqe.load(p)
        with pytest.raises(vqe.CheckpointError, match=name):
            read_metadata(p)
    assert not marker.exists()


def test_missing_file(tmp_path):
    with pytest.raises(vqe.CheckpointError, match="no such"):
        vqe.load(tmp_path / "nope.safetensors")


def test_unconditional_model_round_trip(tmp_path):
    m = make_tiny_model(classes=None, channels=3, image_size=(10, 10), downsample=2)
    vqe.save(m, tmp_path / "u.safetensors")
    m2 = vqe.load(tmp_path / "u.safetensors", device="cpu")
    assert m2.config["grid"] == [5, 5] and m2.config["class_names"] is None
    assert m2.decode(m2.sample(2, seed=0)).shape == (2, 3, 10, 10)


def test_a_file_replaced_while_it_is_read_is_read_whole(saved, monkeypatch):
    """A training replaces its state file every minute and the lab saves models the app lists: a reader must see
    one version whole. Here both files are replaced (atomically, with shorter headers) at the worst moment: when
    torch is about to map a file that safetensors has opened once already. Every reader still reads them."""
    from vq_explorer.storage.state import load_state, save_state
    m, path = saved
    state = path.with_name("vqvae.safetensors")
    save_state(state, m.vqvae, None, {"step": 1, "done": True, "pad": "x" * 4000})
    checkpoint.update_metrics(path, {"pad": "y" * 4000})
    original, versions, busy = torch.UntypedStorage.from_file, iter(range(2, 10 ** 6)), []

    def replace_then_map(*args, **kwargs):
        if not busy:   # the writers' own reads are not interrupted again
            busy.append(1)
            step = next(versions)
            save_state(state, m.vqvae, None, {"step": step, "done": True, "pad": "x" * (4000 - 16 * step)})
            checkpoint.update_metrics(path, {"pad": "y" * (4000 - 16 * step)})
            busy.clear()
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.UntypedStorage, "from_file", replace_then_map)
    assert json.loads(checkpoint.raw_metadata(state)["info"])["done"]
    assert checkpoint.read_metadata(path)["config"] == m.config
    load_state(state, m.vqvae)
    vqe.load(path, device="cpu")


def test_a_checkpoint_replaced_while_it_is_loaded_gives_one_version_whole(saved, monkeypatch):
    """The lab saves over a model the app may be opening. Right after the first read of the file (by any reader),
    another model with the same shapes but other weights and another config replaces it: the loaded model must
    be one of the two whole, never the first's config with the second's weights."""
    import pathlib
    m, path = saved
    other = make_tiny_model()
    with torch.no_grad():
        for t in other.vqvae.parameters():
            t.add_(1.0)
    other.config = {**other.config, "dataset": "other"}
    replaced = []

    def replace_once():
        if not replaced:
            replaced.append(1)
            vqe.save(other, path)

    class OpenThenReplace:
        def __init__(self, *args, **kwargs):
            self.inner = checkpoint.safe_open(*args, **kwargs)

        def __enter__(self):
            return self.inner.__enter__()

        def __exit__(self, *exc):
            self.inner.__exit__(*exc)
            replace_once()

    read_bytes = pathlib.Path.read_bytes

    def read_then_replace(self):
        data = read_bytes(self)
        if self == path:
            replace_once()
        return data

    monkeypatch.setattr(checkpoint, "safe_open", OpenThenReplace)
    monkeypatch.setattr(pathlib.Path, "read_bytes", read_then_replace)
    loaded = vqe.load(path, device="cpu")
    assert replaced
    source = other if loaded.config["dataset"] == "other" else m
    for name, t in loaded.vqvae.state_dict().items():
        assert torch.equal(t, source.vqvae.state_dict()[name]), name


def test_a_training_state_replaced_while_it_is_loaded_gives_one_steps_weights_and_progress(saved, monkeypatch):
    """A training saves its state every minute while `rebuild --list` or a resume reads it. Right after the first
    read of the state file, the next step's state (other weights) replaces it: the weights loaded and the
    progress returned must come from the same step."""
    import pathlib

    from vq_explorer.storage.state import load_state, save_state
    m, path = saved
    state = path.with_name("vqvae.safetensors")
    save_state(state, m.vqvae, None, {"step": 1, "done": True})
    later = make_tiny_model().vqvae
    with torch.no_grad():
        for t in later.parameters():
            t.add_(1.0)
    replaced, read_bytes = [], pathlib.Path.read_bytes

    def read_then_replace(self):
        data = read_bytes(self)
        if self == state and not replaced:
            replaced.append(1)
            save_state(state, later, None, {"step": 2, "done": True})
        return data

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_then_replace)
    target = make_tiny_model().vqvae
    info = load_state(state, target)
    assert replaced
    source = later if info["step"] == 2 else m.vqvae
    for name, t in target.state_dict().items():
        assert torch.equal(t, source.state_dict()[name]), (info["step"], name)


def test_a_records_update_adds_its_fields_and_leaves_weights_metrics_and_the_rest_untouched(saved):
    m, path = saved
    checkpoint.update_metrics(path, {"mse": 0.25})
    before_meta, before = checkpoint.read_checkpoint(path)
    checkpoint.update_record(path, vqvae_precision="fp32", prior_precision="fp32")
    after_meta, after = checkpoint.read_checkpoint(path)
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    assert after_meta["metrics"] == {"mse": 0.25} and after_meta["created"] == before_meta["created"]
    train = after_meta["config"].pop("train")
    added = {"vqvae_precision": "fp32", "prior_precision": "fp32"}
    assert train == {**before_meta["config"].get("train", {}), **added}
    before_meta["config"].pop("train", None)
    assert after_meta["config"] == before_meta["config"]


def test_a_priors_sampling_defaults_change_with_a_reason_and_nothing_else(tmp_path):
    """Steps and guidance chosen after training by measuring samples: the loaded prior samples with them, the
    record says why, the weights are the same bytes; a setting the prior does not have is refused."""
    from conftest import make_tiny_model
    path = tmp_path / "mg.safetensors"
    vqe.save(make_tiny_model(prior="maskgit"), path)
    _, before = checkpoint.read_checkpoint(path)
    checkpoint.update_sampling_defaults(path, "measured", steps=3, guidance=1.5)
    meta, after = checkpoint.read_checkpoint(path)
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    assert meta["config"]["train"]["sampling_defaults"] == "measured"
    prior = vqe.load(path, device="cpu").prior
    assert (prior.cfg.steps, prior.cfg.guidance) == (3, 1.5)
    for bad in ({"layers": 2}, {"dim": 8}, {"top_k": 5}):
        with pytest.raises(vqe.CheckpointError, match="not sampling settings"):
            checkpoint.update_sampling_defaults(path, "no", **bad)
    pixelcnn = tmp_path / "pc.safetensors"
    vqe.save(make_tiny_model(), pixelcnn)
    with pytest.raises(vqe.CheckpointError):          # a PixelCNN has no steps
        checkpoint.update_sampling_defaults(pixelcnn, "no", steps=4)
