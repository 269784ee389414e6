"""The rebuild command (vq_explorer/commands/rebuild.py) on one tiny recipe: it trains and records the recipe,
skips a checkpoint that records it, and retrains from scratch when the recipe changes."""

import json
import shlex
import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY, save_digit_folder

from vq_explorer.storage.checkpoint import atomic_save_file, raw_metadata

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def script(monkeypatch):
    from vq_explorer.commands import rebuild
    monkeypatch.chdir(REPO)   # the rebuild works in the clone it is run in
    monkeypatch.setattr(rebuild, "CLASSIFIERS", {})
    monkeypatch.setattr(rebuild, "RECIPES", dict(rebuild.RECIPES))   # tests set their own; restored after each
    return rebuild


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

    assert not (tmp_path / "runs" / "tiny").exists()   # the resumable state is removed once exported
    script.RECIPES = {"tiny": (str(digits), shlex.join([*TINY, "--epochs", "2"]))}
    (changed,) = script.builds(["tiny"], tmp_path / "ck", tmp_path / "runs")
    assert not changed.is_current()
    # a state another command left (here: the old recipe's) is not resumed as if it were this one's
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    atomic_save_file({"x": torch.zeros(1)}, tmp_path / "runs" / "tiny" / "vqvae.safetensors",
                     {"info": json.dumps({"command": shlex.join(build.command()), "step": 3, "done": False})})
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
    script.main(["--root", str(REPO), "--print-command", "mnist_4x4"])
    (build,) = script.builds(["mnist_4x4"], REPO / "checkpoints", root=REPO)
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
    derived.config["train"] = {"commands": build.expected_commands()}   # the commands, but not where it ran
    vqe.save(derived, tmp_path / "derived.safetensors")
    assert not build.is_current()
    source.config["train"]["commands"] = ["python train.py --name src --vqvae-epochs 30"]   # the source changed
    vqe.save(source, tmp_path / "src.safetensors")
    assert not build.is_current()


def _tracked(src, dst):
    """Copy what a fresh clone has of a partial rebuild: the files checkpoints/partial/.gitignore keeps."""
    keep = {"vqvae.safetensors", "prior.safetensors", "metrics.jsonl"}
    for f in src.rglob("*"):
        if f.is_file() and f.name in keep:
            (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dst / f.relative_to(src))


@pytest.mark.slow
def test_a_budget_pauses_mid_stage_and_a_fresh_clone_resumes_to_the_same_weights(tmp_path, mnist_1000, script,
                                                                                 capfd, monkeypatch):
    from safetensors.torch import load_file
    digits = save_digit_folder(tmp_path / "digits", *mnist_1000, 300)
    # dead codes restart after 2 idle steps: the resumed stage draws random numbers (restarts) after its pause
    recipe = [*TINY, "--epochs", "2", "--precision", "fp32", "--save-every", "1000", "--dead-after", "2"]

    def folders(name, *extra):
        return ["--checkpoints", str(tmp_path / name / "ck"), "--runs", str(tmp_path / name / "partial"),
                "--docs", str(tmp_path / name / "docs"), "--no-tradeoff", *extra]

    script.RECIPES = {"tiny": (str(digits), shlex.join(recipe))}
    script.main(folders("whole"))
    # The same recipe, each step slowed (sleep only), so a 5-second budget lands inside the VQ-VAE stage.
    monkeypatch.setenv("VQE_TEST_THROTTLE", "0.4")
    script.main(folders("first", "--budget-minutes", "0.08"))
    monkeypatch.delenv("VQE_TEST_THROTTLE")
    out = capfd.readouterr().out
    assert "paused at step" in out and "left to train" in out and "tiny" in out.split("left to train")[1]
    state = tmp_path / "first" / "partial" / "tiny"
    info = json.loads(raw_metadata(state / "vqvae.safetensors")["info"])
    assert not info["done"] and 0 < info["step"] < 16 and not (state / "prior.safetensors").exists()
    assert not (tmp_path / "first" / "ck" / "tiny.safetensors").exists()

    _tracked(tmp_path / "first" / "partial", tmp_path / "second" / "partial")
    script.main(folders("second"))
    assert f"resuming at step {info['step']}" in capfd.readouterr().out
    whole = load_file(tmp_path / "whole" / "ck" / "tiny.safetensors")
    resumed = load_file(tmp_path / "second" / "ck" / "tiny.safetensors")
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole), "resumed weights differ"
    assert not (tmp_path / "second" / "partial" / "tiny").exists()   # removed once exported and evaluated


def test_left_estimates_minutes_from_a_paused_stage_and_from_timing_the_stages_not_begun(tmp_path, script,
                                                                                        monkeypatch, capsys):
    """--left: a stage not begun is timed here (a few steps of its network, standing in: 0.5 s a step); a paused
    one goes on at the pace its state recorded (here 0.1 s a step), for the steps its epochs still need."""
    from vq_explorer.commands import pace
    monkeypatch.setattr(pace, "seconds_per_step", lambda *args, **kw: 0.5)
    script.RECIPES = {"tinym": ("mnist", shlex.join([*TINY, "--epochs", "2"]))}
    (build,) = script.builds(["tinym"], tmp_path / "ck", tmp_path / "runs")
    steps = 60000 // 32                                   # MNIST's training images in batches of 32
    assert script.minutes_left(build) == (pytest.approx(2 * 2 * steps * 0.5 / 60),
                                          "vqvae 0.0 of 2 epochs done, prior 0.0 of 2 epochs done")
    build.run.mkdir(parents=True)
    info = {"command": shlex.join(build.command()), "step": 1000, "epoch": 0.5, "elapsed": 100.0, "done": False}
    atomic_save_file({"x": torch.zeros(1)}, build.run / "vqvae.safetensors", {"info": json.dumps(info)})
    vqvae = (2 * 2000 - 1000) * 0.1                       # 2,000 steps an epoch at its recorded pace
    minutes, stages = script.minutes_left(build)
    assert minutes == pytest.approx((vqvae + 2 * steps * 0.5) / 60) and stages.startswith("vqvae 0.5 of 2")
    script.main(["--left", "tinym", "--checkpoints", str(tmp_path / "ck"), "--runs", str(tmp_path / "runs")])
    assert f"~{minutes:.0f} min" in capsys.readouterr().out


def test_a_changed_recipes_paused_rebuild_lets_the_earlier_checkpoint_ship_meanwhile(tmp_path, script, capsys):
    """A recipe changed, and its rebuild spread over sittings: the checkpoint the earlier recipe made ships until
    the new one is exported, but only while the run folder holds states of exactly the new recipe."""
    from conftest import make_tiny_model

    import vq_explorer as vqe
    script.RECIPES = {"tiny": ("mnist", "--prior-layers 14")}
    (build,) = script.builds(["tiny"], tmp_path / "ck", tmp_path / "runs")
    old = make_tiny_model()
    old.config = {**old.config, "train": {"commands": ["python train.py --name tiny"], "machine": "cpu"}}
    vqe.save(old, tmp_path / "ck" / "tiny.safetensors")
    assert not build.is_current() and not script.rebuild_in_progress(build)   # no rebuild under way
    listing = ["--list", "tiny", "--checkpoints", str(tmp_path / "ck"), "--runs", str(tmp_path / "runs")]
    script.main(listing)
    assert capsys.readouterr().out.split()[:2] == ["tiny", "changed"]

    def state(command):
        atomic_save_file({"x": torch.zeros(1)}, build.run / "vqvae.safetensors",
                         {"info": json.dumps({"command": command, "step": 3, "epoch": 1.5, "done": False})})

    state(shlex.join(build.command()))
    assert script.rebuild_in_progress(build) and not build.is_current()
    script.main(listing)
    assert "checkpoint an earlier recipe made ships: vqvae 1.5 of" in capsys.readouterr().out
    state("python train.py --name tiny --vqvae-epochs 3")   # a state of yet another command does not count
    assert not script.rebuild_in_progress(build)


def test_a_paused_prior_over_an_adopted_vqvae_is_resumed_not_cleared(tmp_path, script, capsys):
    """A recipe that takes its VQ-VAE from another checkpoint (--vqvae-from): the run folder's VQ-VAE state was
    made by no command, only copied; the paused prior beside it is this recipe's and must survive the next run."""
    script.RECIPES = {"over": ("mnist", "--vqvae-from checkpoints/mnist.safetensors --prior-epochs 9")}
    (build,) = script.builds(["over"], tmp_path / "ck", tmp_path / "runs")

    def adopted(source):
        atomic_save_file({"x": torch.zeros(1)}, build.run / "vqvae.safetensors", {"info": json.dumps(
            {"stage": "vqvae", "done": True, "commands": [], "source": source, "source_sha": "ab12"})})

    adopted("checkpoints/mnist.safetensors")
    atomic_save_file({"x": torch.zeros(1)}, build.run / "prior.safetensors", {"info": json.dumps(
        {"stage": "prior", "command": shlex.join(build.command()), "step": 3, "epoch": 1.5, "done": False})})
    assert script.rebuild_in_progress(build)
    script.clear_stale_run(build)
    assert (build.run / "prior.safetensors").exists() and "another command" not in capsys.readouterr().out
    adopted("checkpoints/fashion_mnist.safetensors")   # a VQ-VAE taken from another checkpoint is stale
    assert not script.rebuild_in_progress(build)
    script.clear_stale_run(build)
    assert not build.run.exists()
