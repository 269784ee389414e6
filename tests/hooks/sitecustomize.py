"""Seams for the tests that run train.py in a subprocess (directly, under torchrun, or through the rebuild).

The test suite puts this folder on PYTHONPATH (conftest.py), so every Python it starts imports this module first;
it does nothing unless a test sets one of these variables, and then it wraps functions of
vq_explorer.commands.train from outside, so the product carries no test hooks:

    VQE_TEST_THROTTLE=S          sleep S seconds after each training step, encoded chunk and export phase, so that
                                 a signal can land inside any stage
    VQE_TEST_NAN_AT=N            the N-th VQ-VAE training step (from 0) returns a NaN loss
    VQE_TEST_DUMP_RANK_STATE=1   each rank writes its weights after each stage ({stage}.rank{R}.safetensors in
                                 the run folder), to compare torchrun's processes
"""

import os

THROTTLE = float(os.environ.get("VQE_TEST_THROTTLE") or 0)
NAN_AT = int(os.environ["VQE_TEST_NAN_AT"]) if os.environ.get("VQE_TEST_NAN_AT") else None
DUMP = bool(os.environ.get("VQE_TEST_DUMP_RANK_STATE"))


def _install():
    import functools
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # the clone under test (site runs before the
                                                                    # script's own folder is on the path)

    from vq_explorer.commands import train
    from vq_explorer.models import training

    def then_sleep(fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            out = fn(*args, **kwargs)
            time.sleep(THROTTLE)
            return out
        return wrapped

    if THROTTLE:
        batches = train.epoch_batches

        def slow_batches(*args, **kwargs):
            for batch in batches(*args, **kwargs):
                yield batch
                time.sleep(THROTTLE)           # after the step that used the batch
        train.epoch_batches = slow_batches
        load = train.load_vqvae

        def slow_vqvae(*args, **kwargs):       # the encode stage's chunks
            model = load(*args, **kwargs)
            model.encode = then_sleep(model.encode)
            return model
        train.load_vqvae = slow_vqvae
        train.evaluate, train.code_stats = then_sleep(train.evaluate), then_sleep(train.code_stats)

    if NAN_AT is not None:
        step, calls = training.vqvae_step, [0]

        def poisoned(*args, **kwargs):
            loss, stats = step(*args, **kwargs)
            calls[0] += 1
            return (loss * float("nan") if calls[0] - 1 == NAN_AT else loss), stats
        training.vqvae_step = poisoned

    if DUMP:
        stage_loop = train.train_stage

        def dumped(ctx, stage, model, *args, **kwargs):
            info = stage_loop(ctx, stage, model, *args, **kwargs)
            raw = getattr(model, "module", model)
            train.atomic_save_file(raw.state_dict(), ctx.run / f"{stage}.rank{ctx.rank}.safetensors", {})
            return info
        train.train_stage = dumped


if THROTTLE or NAN_AT is not None or DUMP:
    _install()
