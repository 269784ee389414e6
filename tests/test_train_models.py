"""benchmarks/train_models.py, the rebuild script, on one tiny recipe: it trains and records the recipe, skips a
checkpoint that records it, and retrains from scratch when the recipe changes."""

import json
import shlex

import pytest
from conftest import TINY, load_benchmark, save_digit_folder

from vq_explorer.checkpoint import raw_metadata


@pytest.fixture
def script(monkeypatch):
    module = load_benchmark("train_models")
    monkeypatch.setattr(module, "CLASSIFIERS", {})
    return module


def train_record(path) -> dict:
    return json.loads(raw_metadata(path)["config"])["train"]


@pytest.mark.slow
def test_rebuild_trains_skips_current_and_retrains_a_changed_recipe(tmp_path, mnist_1000, script, capfd):
    digits = save_digit_folder(tmp_path / "digits", *mnist_1000, 300)
    folders = ["--checkpoints", str(tmp_path / "ck"), "--runs", str(tmp_path / "runs"),
               "--docs", str(tmp_path / "docs"), "--no-tradeoff"]
    script.RECIPES = {"tiny": (str(digits), shlex.join([*TINY, "--epochs", "1"]))}
    ckpt = tmp_path / "ck" / "tiny.safetensors"
    (build,) = script.builds(["tiny"], tmp_path / "ck", tmp_path / "runs")
    assert not build.is_current()

    script.main(folders)
    t = train_record(ckpt)
    assert t["commands"] == [shlex.join(build.command())] and t["vqvae_epochs"] == 1 and t["prior_epochs"] == 1
    assert build.is_current() and (tmp_path / "docs" / "tiny_samples.png").exists()
    assert "eval_seconds" in json.loads(raw_metadata(ckpt)["metrics"])   # evaluated after training
    out = capfd.readouterr().out
    assert "| tiny | 7×7 | 32 | 1.0 / 1.0 |" in out                       # the summary table

    before = ckpt.stat().st_mtime_ns
    script.main(folders)
    assert "records this recipe; skipped" in capfd.readouterr().out and ckpt.stat().st_mtime_ns == before

    script.RECIPES = {"tiny": (str(digits), shlex.join([*TINY, "--epochs", "2"]))}
    (changed,) = script.builds(["tiny"], tmp_path / "ck", tmp_path / "runs")
    assert not changed.is_current()
    script.main(folders)
    out = capfd.readouterr().out
    assert "made by another command" in out and "resuming" not in out  # stale run cleared, not resumed
    t = train_record(ckpt)
    assert t["commands"] == [shlex.join(changed.command())] and t["vqvae_epochs"] == 2 and t["prior_epochs"] == 2


def test_summary_lists_a_recipe_that_is_not_built(tmp_path, script):
    (build,) = script.builds(["mnist"], tmp_path / "none", tmp_path / "runs")
    assert not build.is_current() and build.recorded() is None
    assert "| mnist | not built |" in script.summary([build])


def test_print_command_gives_the_exact_train_py_arguments(script, capsys):
    script.main(["--print-command", "mnist_4x4"])
    (build,) = script.builds(["mnist_4x4"], script.ROOT / "checkpoints", script.ROOT / "runs")
    assert capsys.readouterr().out.strip() == shlex.join(build.command()[1:])


def test_a_recipe_on_another_checkpoints_vqvae_is_current_only_with_both_commands(tmp_path, script):
    """A prior trained with --vqvae-from records the source's commands beside its own; the rebuild script expects
    exactly both, so a changed source model makes the derived one stale."""
    from conftest import make_tiny_model

    import vq_explorer as vqe
    source = make_tiny_model()
    source.config = {**source.config, "train": {"commands": ["python train.py --name src"], "machine": "cpu"}}
    vqe.save(source, tmp_path / "src.safetensors")
    script.RECIPES = {"derived": ("mnist", f"--vqvae-from {tmp_path / 'src.safetensors'} --prior transformer")}
    (build,) = script.builds(["derived"], tmp_path, tmp_path / "runs")
    own = shlex.join(build.command())
    assert build.expected_commands() == sorted([own, "python train.py --name src"])
    derived = make_tiny_model(prior="transformer")
    for commands, current in (([own], False), (build.expected_commands(), True)):
        derived.config = {**derived.config, "train": {"commands": commands, "machine": "cpu"}}
        vqe.save(derived, tmp_path / "derived.safetensors")
        assert build.is_current() == current, commands
    source.config["train"]["commands"] = ["python train.py --name src --vqvae-epochs 30"]   # the source changed
    vqe.save(source, tmp_path / "src.safetensors")
    assert not build.is_current()
