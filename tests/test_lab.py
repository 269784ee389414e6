"""The codebook lab: its data, training a few seconds, what it reports, the model it leaves, and the Lab tab's
handler and /lab endpoint."""

import json
import re

import pytest
import torch
from conftest import said, states, words

from vq_explorer import service
from vq_explorer.messages import error_text
from vq_explorer.service import lab


def test_the_shipped_subsets_need_no_download():
    for name in lab.DATASETS:
        train, test, labels = lab.subset(name)
        assert train.shape == (5000, 1, 28, 28) and test.shape == (1000, 1, 28, 28) and train.dtype == torch.uint8
        assert labels.shape == (1000,) and set(labels.tolist()) == set(range(10))
    with said("lab_dataset"):
        lab.subset("cifar10")


@pytest.mark.parametrize("args, code", [(("svhn", "plain", 64, 16, 5), "lab_dataset"),
                                        (("mnist", "magic", 64, 16, 5), "lab_variant"),
                                        (("mnist", "plain", 100, 16, 5), "lab_codes"),
                                        (("mnist", "plain", 64, 0, 5), "lab_code_dim"),
                                        (("mnist", "plain", 64, 16, 600), "lab_seconds"),
                                        (("mnist", "plain", "64", 16, 5), "lab_codes"),
                                        (("mnist", "plain", float("nan"), 16, 5), "lab_codes"),
                                        (("mnist", ["plain"], 64, 16, 5), "lab_variant"),
                                        (("mnist", "plain", 64, 16, 5, -1), "lab_seed"),
                                        (("mnist", "plain", 64, 16, 5, 2**70), "lab_seed")])
def test_bad_settings_are_refused_with_a_message(args, code):
    with said(code):
        lab.check(*args)


def test_two_variants_train_in_turn_and_report_on_the_test_images():
    runs = [lab.start("mnist", "plain", 64, 8, seed=1), lab.start("mnist", "ema+kmeans+restart", 64, 8, seed=1)]
    frames = list(lab.train(runs, lab.MAX_SECONDS, every=0, max_steps=6))
    assert len(frames) >= 2 and runs[0].step == runs[1].step == 6            # equal steps, several pictures
    assert runs[0].history["step"] == list(range(1, runs[0].step + 1))
    s = lab.summary(runs[1])
    # the summary against the model's own codes for all 1,000 test images, counted here
    x = lab.subset("mnist")[1].float() / 255
    with torch.no_grad():
        codes = runs[1].model.eval().encode(x)
        mse = float((runs[1].model.decode(codes, (28, 28)) - x).pow(2).mean())
    p = torch.bincount(codes.flatten(), minlength=64).double() / codes.numel()
    perplexity = float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))   # exp of the usage entropy, by hand
    assert s["used_codes"] == len(codes.unique()) and s["dead_codes"] == 64 - len(codes.unique())
    assert s["perplexity"] == pytest.approx(perplexity, abs=0.01)
    assert s["steps"] == runs[1].step and s["mse"] == pytest.approx(mse, abs=1e-5)
    f = lab.frame(runs[1])
    assert f.codes_xy.shape == (64, 2) and f.outputs_xy.shape == (300, 2) and f.recons.shape == (8, 1, 28, 28)


def test_the_time_limit_holds():
    """train() stops at the first step past its limit: it overruns by at most about one step, however slow the
    machine (a busy one makes steps slower, not the limit looser)."""
    import time
    run = lab.start("mnist", "fsq", 64, 8)
    t = time.time()
    list(lab.train([run], 1.5))
    elapsed = time.time() - t
    per_step = elapsed / max(1, run.step)
    assert run.step > 0 and 1.5 <= elapsed < 1.5 + 3 * per_step + 1.0, (elapsed, run.step)


def test_a_lab_model_opens_without_a_prior_and_says_so(tmp_path):
    import vq_explorer as vqe
    run = lab.start("fashion_mnist", "ema+kmeans+restart", 64, 8)
    list(lab.train([run], lab.MAX_SECONDS, max_steps=30))
    model = lab.as_model(run)
    assert model.prior is None and model.examples.shape == (40, 1, 28, 28)
    c = model.config   # built as the checkpoint module builds every config, from the model and its data
    assert (c["grid"], c["image_size"], c["num_codes"], c["prior"]) == ([7, 7], [28, 28], 64, None)
    from vq_explorer.ui.words import describe
    assert "no prior" in describe(model) and service.class_names(model) == []
    rec = service.reconstruct_example(model, 0)
    assert not rec.has_prior and float(rec.surprise.abs().sum()) == 0
    x = model.examples[:1].float() / 255   # its own reconstruction of the example, not the example itself
    assert torch.equal(rec.grid, model.encode(x)[0]) and rec.mse > 0
    assert rec.mse == pytest.approx(float((model.decode(rec.grid[None]) - x).pow(2).mean()), rel=1e-4)
    with said("needs_prior"):
        service.sample_grid(model)
    with said("needs_prior"):
        service.inpaint(model, torch.zeros(7, 7, dtype=torch.long), torch.ones(7, 7, dtype=torch.bool))
    assert service.grid_bits(model, torch.zeros(7, 7, dtype=torch.long)) is None
    vqe.save(model, tmp_path / "lab.safetensors")          # the download: a checkpoint without a prior
    again = vqe.load(tmp_path / "lab.safetensors", "cpu")
    x = lab.subset("fashion_mnist")[1][:16].float() / 255
    assert again.prior is None and torch.equal(again.encode(x), model.encode(x))
    assert torch.equal(again.decode(model.encode(x)), model.decode(model.encode(x)))


def test_the_catalog_keeps_lab_models_for_their_session_only(ckpt_dir):
    catalog = service.Catalog(ckpt_dir, max_lab_models=2)
    names = [catalog.register(object(), f"m{i}") for i in range(3)]
    assert names[0] != names[1] and all(n.startswith("lab · ") for n in names)
    with said("lab_model_gone"):
        catalog.get(names[0])                               # the oldest went when the third came
    assert catalog.get(names[2]) is not None and catalog.names() == ["tiny.safetensors"]   # not listed to others
    catalog.forget([names[2]])
    with said("lab_model_gone"):
        catalog.get(names[2])


def test_the_lab_handler_streams_then_leaves_models_to_open(ckpt_dir):
    from vq_explorer.ui import lab as tab
    from vq_explorer.ui import open_checkpoint
    catalog = service.Catalog(ckpt_dir)
    outs = list(tab.run(catalog, "mnist", "plain", 64, 3, 0, "fsq", 8, []))
    assert len(outs) >= 2 and outs[0][5] == "" and states(outs[0][4]) == {"training"}
    assert "training" in words(outs[0][4])
    curves, usage, code_map, recons, status, summary, mine, download = outs[-1]
    result = json.loads(summary)
    assert {"steps", "mse", "perplexity", "used_codes", "dead_codes"} <= set(result)
    assert result["variant"] == "plain"
    assert result["compare"]["variant"] == "fsq" and result["steps"] == result["compare"]["steps"] > 0
    assert len(mine) == 2 and states(status) == {"done"} and download.endswith(".safetensors")
    assert "done: measured on all 1,000 test images" in words(status)
    assert len(curves.data) == 4 and curves.data[0].x[-1] == result["steps"]
    views = open_checkpoint(catalog, mine[0])
    assert "no-prior" in states(views["about"]) and "no-prior" in states(views["samples"][3])
    assert "no-prior" in states(views["reconstruction"][5]) and len(views["examples"]) == 40
    assert "has no prior" in words(views["samples"][3])
    assert tab.open_in_tabs(catalog, mine[1], mine)["value"] == mine[1]
    with said("lab_model_missing"):
        tab.open_in_tabs(catalog, "lab · someone else's · 1234", mine)


def test_a_full_lab_refuses_at_once_instead_of_queueing(ckpt_dir):
    """Gradio's queue is shared by every tab: a lab request beyond the run and two waiting is refused now."""
    from vq_explorer.ui import lab as tab
    catalog = service.Catalog(ckpt_dir)
    for _ in range(3):
        lab.PLACES.acquire()
    try:
        with said("lab_busy"):
            next(tab.run(catalog, "mnist", "plain", 64, 5, 0))
    finally:
        for _ in range(3):
            lab.PLACES.release()
    assert words(next(tab.run(catalog, "mnist", "plain", 64, 5, 0))[4]).startswith("**plain**")   # places freed


def test_a_checkpoint_with_impossible_fsq_levels_is_refused(tmp_path):
    import vq_explorer as vqe
    run = lab.start("mnist", "fsq", 64, 8)
    list(lab.train([run], lab.MAX_SECONDS, max_steps=10))
    model = lab.as_model(run)
    for levels in ([1, 64], [4096, 4096, 4], [4, 4, 8]):     # a level of 1; billions of codes; 128 ≠ K
        model.config["vqvae"]["fsq_levels"] = levels
        vqe.save(model, tmp_path / "bad.safetensors")
        with pytest.raises(vqe.CheckpointError, match="fsq_levels"):
            vqe.load(tmp_path / "bad.safetensors", "cpu")


def test_the_lab_handler_stops_when_asked_and_refuses_bad_input(ckpt_dir):
    from vq_explorer.ui import lab as tab
    catalog = service.Catalog(ckpt_dir)
    stream = tab.run(catalog, "mnist", "plain", 64, 30, 0)
    next(stream)
    stream.close()                                   # what Gradio does on Stop: nothing more runs or is kept
    assert catalog._lab == {}
    with said("lab_seconds"):
        list(tab.run(catalog, "mnist", "plain", 64, 3600, 0))


@pytest.mark.slow
def test_the_lab_endpoint_through_gradio_client(ckpt_dir):
    from gradio_client import Client

    from vq_explorer.ui import LAUNCH, build_demo
    demo = build_demo(ckpt_dir)
    try:
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **LAUNCH)
        client = Client(url, verbose=False, download_files=False)
        job = client.submit("mnist", "ema", 64, 5, 0, api_name="/lab")       # dataset, variant, K, seconds, seed
        result = json.loads(job.result()[5])
        assert job.result()[4].startswith("**ema**")          # the status as its words, a string
        assert result["variant"] == "ema" and result["steps"] > 0 and "compare" in result   # B: the tab's default
        assert result["used_codes"] + result["dead_codes"] == 64 and result["mse"] > 0
        with pytest.raises(Exception, match="not in the list of choices"):     # Gradio checks the dropdown
            client.predict("mnist", "nonsense", 64, 5, 0, api_name="/lab")
        with pytest.raises(Exception, match=re.escape(error_text(lab.LabError("lab_seed")))):
            client.predict("mnist", "ema", 64, 5, -3, api_name="/lab")
    finally:
        demo.close()


def test_the_lab_opens_on_a_recorded_race_until_one_is_trained(tmp_path):
    """A race saved and loaded back draws as a finished one: the same curves, usage and pictures, a status that
    says it is recorded, and its summary; without the file the panels stay empty."""
    import json

    from PIL import Image

    from vq_explorer.ui import lab as tab
    runs = [lab.start("mnist", v, 16, 4, 0) for v in ("plain", "ema")]
    for _ in lab.train(runs, lab.MAX_SECONDS, max_steps=10):
        pass
    frames = [lab.frame(r, 64) for r in runs]
    result = {"dataset": "mnist", "variant": "plain", "compare": {"variant": "ema"}}
    lab.save_race(tmp_path / "race.safetensors", runs, frames, result, 1.0)
    loaded, loaded_frames, loaded_result, seconds = lab.load_race(tmp_path / "race.safetensors")
    assert [r.variant for r in loaded] == ["plain", "ema"] and [r.step for r in loaded] == [r.step for r in runs]
    assert loaded[1].history["mse"] == pytest.approx(runs[1].history["mse"]) and loaded_result == result
    assert torch.equal(loaded_frames[0].usage, frames[0].usage) and seconds == 1.0
    curves, usage, code_map, recons, status, summary = tab.first_screen(tmp_path / "race.safetensors")
    assert len(curves.data) == 4 and len(usage.data) == 2 and len(code_map.data) == 6
    assert Image.open(recons).size[0] >= 8 * 28 and json.loads(summary) == result
    assert "recorded race" in words(status) and "**plain**" in words(status) and "press **Train**" in words(status)
    *panels, status, summary = tab.first_screen(tmp_path / "missing.safetensors")
    assert panels == [None] * 4 and words(status) == "" and not states(status) and summary == ""
