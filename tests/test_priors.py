"""What every prior family must do, run on each: sampling (seeds, fixed cells, top-k, bad arguments) and the
checkpoint that names the family; and what every autoregressive one must do: causality, likelihoods, raster
order, the cached sampler. Family-specific tests live in test_pixelcnn.py, test_maskgit.py and below."""

import json

import pytest
import torch
from conftest import AUTOREGRESSIVE, TINY_PRIORS, make_tiny_model

from vq_explorer.models.priors import FAMILIES as CLASSES
from vq_explorer.models.priors import build_prior

FAMILIES = list(TINY_PRIORS)


def tiny(family, **kw):
    return build_prior(TINY_PRIORS[family](**kw))


def embedding_width(m) -> int:
    return m.cfg.channels if m.cfg.type == "pixelcnn" else m.cfg.dim


def _raster_before(h, w, r, c):
    before = torch.zeros(h, w, dtype=torch.bool)
    before.view(-1)[: r * w + c] = True
    return before


@pytest.mark.parametrize("family", AUTOREGRESSIVE)
@pytest.mark.parametrize("h,w", [(5, 5), (4, 7), (7, 3)])
@pytest.mark.parametrize("classes", [0, 3])
def test_causality_by_gradient(family, h, w, classes):
    """Logits at (r, c) depend on every earlier cell (no blind spot) and on no cell at or after it."""
    torch.manual_seed(h * w + classes)
    kw = dict(layers=max(h, w) + 1, channels=32) if family == "pixelcnn" else {}
    m = tiny(family, num_classes=classes, **kw).double()
    labels = torch.tensor([1]) if classes else None
    for r, c in [(0, 0), (0, w - 1), (h // 2, w // 2), (h - 1, 0), (h - 1, w - 1), (1, w - 2)]:
        e = torch.randn(1, embedding_width(m), h, w, dtype=torch.double, requires_grad=True)
        logits = m.forward_embedded(e, labels)
        (logits[0, :, r, c] * torch.randn(logits.shape[1], dtype=torch.double)).sum().backward()
        g = e.grad[0].abs().sum(0)
        before = _raster_before(h, w, r, c)
        assert (g[~before] == 0).all(), f"({r},{c}) sees a cell at or after itself"
        assert (g[before] > 0).all(), f"({r},{c}) misses an earlier cell: blind spot\n{g}"


@pytest.mark.parametrize("family", FAMILIES)
def test_conditioning_changes_logits_and_none_is_allowed(family):
    torch.manual_seed(0)
    m = tiny(family, num_classes=4)
    idx = torch.randint(0, 32, (2, 5, 5))
    a, b = m(idx, torch.tensor([0, 0])), m(idx, torch.tensor([1, 1]))
    assert not torch.allclose(a, b)
    assert m(idx).shape == (2, 32, 5, 5)


@pytest.mark.parametrize("family", AUTOREGRESSIVE)
def test_log_prob_is_the_softmax_of_the_cells_own_code(family):
    m = tiny(family)
    idx = torch.randint(0, 32, (3, 4, 4))
    idx[0, 2, 1] = 5
    cells = m.log_prob_cells(idx)
    probs = torch.softmax(m(idx), 1)
    assert torch.allclose(cells[0, 2, 1].exp(), probs[0, 5, 2, 1])
    assert torch.allclose(m.log_prob(idx), cells.sum((1, 2)))


@pytest.fixture(scope="module", params=FAMILIES)
def prior(request):
    torch.manual_seed(0)
    return tiny(request.param, num_classes=3).eval()


@pytest.fixture(scope="module", params=AUTOREGRESSIVE)
def ar_prior(request):
    torch.manual_seed(0)
    return tiny(request.param, num_classes=3).eval()


def test_same_seed_same_samples_different_seed_differs(prior):
    a = prior.sample(4, (4, 5), labels=torch.tensor([0, 1, 2, 0]), seed=7)
    b = prior.sample(4, (4, 5), labels=torch.tensor([0, 1, 2, 0]), seed=7)
    c = prior.sample(4, (4, 5), labels=torch.tensor([0, 1, 2, 0]), seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (4, 4, 5) and a.dtype == torch.long and a.min() >= 0 and a.max() < 32


def test_masked_cells_stay_as_given(prior):
    grid = torch.randint(0, 32, (2, 4, 4))
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[:, 1:3, :] = True
    mask[0, 3, 3] = True
    out = prior.sample(2, (4, 4), grid=grid, mask=mask, seed=1)
    assert torch.equal(out[mask], grid[mask])
    free = prior.sample(2, (4, 4), seed=1)
    assert not torch.equal(out, free)


def test_top_k_1_is_greedy(ar_prior):
    """In raster order (the masked prior's greedy step is test_maskgit.py's)."""
    prior = ar_prior
    labels = torch.tensor([2, 0])
    got = prior.sample(2, (3, 4), labels=labels, top_k=1, seed=123)
    greedy = torch.zeros(2, 3, 4, dtype=torch.long)
    with torch.no_grad():
        for r in range(3):
            for c in range(4):
                greedy[:, r, c] = prior(greedy, labels)[:, :, r, c].argmax(1)
    assert torch.equal(got, greedy)


def test_temperature_reshapes_the_distribution_as_derived_by_hand(ar_prior):
    """Probabilities (1/4, 3/4) at T = 0.5 become ∝ (1, 9) = (0.1, 0.9), at T = 2 ∝ (1, √3); and a prior's first
    cell at temperature T is its T = 1 distribution raised to 1/T, renormalised."""
    from vq_explorer.models.priors.base import Prior
    logits = torch.log(torch.tensor([[0.25, 0.75]]))
    assert Prior._distribution(logits, 0.5, None)[0].tolist() == pytest.approx([0.1, 0.9])
    assert Prior._distribution(logits, 2.0, None)[0].tolist() == pytest.approx([1 / (1 + 3 ** 0.5),
                                                                                3 ** 0.5 / (1 + 3 ** 0.5)])
    p1 = next(iter(ar_prior.sample_steps(1, (3, 3), temperature=1.0, seed=0))).probs[0].double()
    for t in (0.5, 2.0):
        pt = next(iter(ar_prior.sample_steps(1, (3, 3), temperature=t, seed=0))).probs[0].double()
        expected = p1 ** (1 / t) / (p1 ** (1 / t)).sum()
        assert torch.allclose(pt, expected, atol=1e-5)


def test_top_k_restricts_support(prior):
    steps = list(prior.sample_steps(3, (3, 3), top_k=5, seed=0))
    assert all(((s.probs > 0).sum(1) <= 5).all() for s in steps)


def _logits_summing_below_one(K: int, top_k: int) -> torch.Tensor:
    """Logits whose top-k softmax, as the samplers compute it in float32, adds up to less than the largest
    float32 below 1, with the k kept codes in the middle: neither code 0 nor the last one is among them."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(10_000):
        logits = torch.full((K,), -5.0)
        logits[1:1 + top_k] = torch.rand(top_k, generator=gen) * 8 - 4  # always above the others: no ties
        probs = build_prior(TINY_PRIORS["pixelcnn"]())._distribution(logits[None], 1.0, top_k)[0]
        if probs.cumsum(0)[-1] < 1 - 2 ** -24 and probs.nonzero().flatten().tolist() == list(range(1, 1 + top_k)):
            return logits
    raise AssertionError("no such logits found")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("u", [0.0, 1 - 2 ** -24], ids=["draw-0", "draw-below-1"])
def test_top_k_draws_stay_in_the_top_k_at_the_ends_of_the_uniform(family, u, monkeypatch):
    """The uniform's two ends: exactly 0, and the largest float32 below 1 where the kept probabilities add up
    to less. An inverse-CDF draw without care lands on code 0 or on the last code there, outside the top k."""
    K, top_k = 32, 3
    logits = _logits_summing_below_one(K, top_k)
    prior = tiny(family)
    if family == "maskgit":
        monkeypatch.setattr(prior, "_masked_logits", lambda grid, labels, masked, g: logits.expand(
            int(masked.sum()), K).clone())
    else:
        class Fixed:
            def logits(self, grid, r, c):
                return logits.expand(len(grid), K).clone()
        monkeypatch.setattr(prior, "cached_sampler", lambda n, shape, labels=None: Fixed())
    real_rand = torch.rand
    monkeypatch.setattr(torch, "rand", lambda *size, generator=None, **kw: torch.full(
        size, u) if generator is not None else real_rand(*size, **kw))
    grid = prior.sample(2, (3, 3), top_k=top_k, seed=0)
    kept = set(range(1, 1 + top_k))
    assert set(grid.unique().tolist()) <= kept, grid


def test_the_draw_lands_on_a_kept_code_at_both_closed_ends_of_the_uniform():
    logits = _logits_summing_below_one(32, 3)[None].expand(3, 32)
    probs = build_prior(TINY_PRIORS["pixelcnn"]())._distribution(logits, 1.0, 3)
    picks = build_prior(TINY_PRIORS["pixelcnn"]())._draw(probs, torch.tensor([0.0, 1 - 2 ** -24, 1.0]))
    assert (probs.gather(1, picks[:, None]) > 0).all(), picks
    assert picks[0] == 1 and picks[2] == probs[0].nonzero().max()


def test_sample_steps_raster_order_and_final_grid(ar_prior):
    prior = ar_prior
    steps = list(prior.sample_steps(2, (3, 4), labels=torch.tensor([1, 2]), temperature=0.7, seed=5))
    assert [(s.row, s.col) for s in steps] == [(r, c) for r in range(3) for c in range(4)]
    for i, s in enumerate(steps):
        filled = (s.grid >= 0).view(2, -1)
        assert filled[:, : i + 1].all() and not filled[:, i + 1:].any()
        assert torch.allclose(s.probs.sum(1), torch.ones(2))
    assert torch.equal(steps[-1].grid, prior.sample(2, (3, 4), labels=torch.tensor([1, 2]), temperature=0.7,
                                                    seed=5))


@pytest.mark.parametrize("kwargs,match", [
    (dict(temperature=0), "temperature"), (dict(top_k=0), "top_k"), (dict(top_k=33), "top_k"),
    (dict(labels=torch.tensor([5, 0])), "labels"), (dict(labels=torch.tensor([0, 1, 2])), "labels"),
    (dict(grid=torch.zeros(3, 3, dtype=torch.long)), "shape"), (dict(grid=torch.full((4, 4), 40)), "codes"),
])
def test_bad_sampling_arguments_are_refused(prior, kwargs, match):
    with pytest.raises(ValueError, match=match):
        prior.sample(2, (4, 4), **kwargs)


# --- the cached samplers -------------------------------------------------------------------------------
VARIANTS = [("pixelcnn", {}), ("transformer", {}), ("transformer", {"class_per_block": True}), ("rnn", {}),
            ("rnn", {"layers": 1})]


@pytest.mark.parametrize("family,options", VARIANTS)
@pytest.mark.parametrize("shape,classes", [((5, 6), 3), ((4, 4), 0), ((1, 7), 2), ((6, 2), 0)])
def test_cached_logits_equal_the_full_forward(family, options, shape, classes):
    torch.manual_seed(sum(shape) + classes)
    m = tiny(family, num_classes=classes, **options).eval()
    g = torch.randint(0, 32, (3, *shape))
    y = torch.tensor([0, 1, 1]) if classes else None
    with torch.no_grad():
        full = m(g, y)
        cache = m.cached_sampler(3, shape, y)
        for r in range(shape[0]):
            for c in range(shape[1]):
                assert torch.allclose(cache.logits(g, r, c), full[:, :, r, c], atol=1e-5), (r, c)


@pytest.mark.parametrize("family,options", VARIANTS)
@pytest.mark.parametrize("conditional", [True, False])
def test_cached_sampler_gives_the_plain_samplers_samples(family, options, conditional):
    torch.manual_seed(1)
    m = tiny(family, num_classes=3 if conditional else 0, **options).eval()
    labels = torch.tensor([2, 0, 1, 2]) if conditional else None
    grid = torch.randint(0, 32, (4, 5, 5))
    mask = torch.rand(4, 5, 5) < 0.3
    for kwargs in (dict(), dict(grid=grid, mask=mask), dict(temperature=0.7, top_k=6)):
        a = m.sample(4, (5, 5), labels=labels, seed=11, **kwargs)
        b = m.sample(4, (5, 5), labels=labels, seed=11, cached=False, **kwargs)
        assert torch.equal(a, b), kwargs
    steps_a = list(m.sample_steps(2, (3, 3), seed=4))
    steps_b = list(m.sample_steps(2, (3, 3), seed=4, cached=False))
    assert all(torch.allclose(x.probs, y.probs, atol=1e-5) for x, y in zip(steps_a, steps_b, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("family", AUTOREGRESSIVE)
def test_a_small_prior_overfits_a_few_grids(family):
    torch.manual_seed(0)
    grids = torch.randint(0, 32, (4, 5, 5))
    labels = torch.arange(4)
    sizes = {"pixelcnn": dict(channels=32, layers=5), "rnn": dict(dim=32, hidden=64)}
    kw = sizes.get(family, dict(dim=32, layers=2))
    m = tiny(family, num_classes=4, **kw)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(300):
        nll = -m.log_prob_cells(grids, labels).mean()
        opt.zero_grad()
        nll.backward()
        opt.step()
    assert nll.item() < 0.05, nll.item()
    m.eval()
    assert torch.equal(m.sample(4, (5, 5), labels=labels, seed=0), grids)


# --- the Transformer's own -----------------------------------------------------------------------------
def test_transformer_refuses_a_grid_beyond_its_positions():
    m = tiny("transformer", rows=4, cols=5)
    m(torch.zeros(1, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="up to 4×5"):
        m(torch.zeros(1, 5, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="up to 4×5"):
        m.sample(1, (4, 6))


def test_transformer_dim_must_split_into_heads():
    with pytest.raises(ValueError, match="divisible"):
        tiny("transformer", dim=18, heads=4)


@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_the_cache_carries_the_past_not_only_the_last_cell(family):
    """A cache that dropped the keys of earlier positions (or an RNN state reset each cell) would still see the
    previous code (it is the input token): change only cell 0 and the cached logits at a late cell must follow
    the full forward."""
    torch.manual_seed(3)
    m = tiny(family).eval()
    g = torch.randint(0, 32, (1, 3, 3))
    g2 = g.clone()
    g2[0, 0, 0] = (g[0, 0, 0] + 1) % 32
    with torch.no_grad():
        late = []
        for grid in (g, g2):
            cache = m.cached_sampler(1, (3, 3))
            late.append([cache.logits(grid, r, c) for r in range(3) for c in range(3)][-1])
        assert not torch.allclose(late[0], late[1])
        assert torch.allclose(late[1], m(g2)[:, :, 2, 2], atol=1e-5)


# --- checkpoints ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_round_trip_records_the_family(tmp_path, family):
    import vq_explorer as vqe
    model = make_tiny_model(prior=family)
    vqe.save(model, tmp_path / "m.safetensors")
    back = vqe.load(tmp_path / "m.safetensors", device="cpu")
    assert back.config["prior"]["type"] == family
    assert type(back.prior) is CLASSES[family]
    g = torch.randint(0, 32, (2, 3, 3))
    assert torch.equal(back.conditional_log_probs(g), model.conditional_log_probs(g))
    assert torch.equal(back.sample(2, seed=1), model.sample(2, seed=1))


def test_a_pixelcnn_file_without_the_type_still_loads(tmp_path):
    import vq_explorer as vqe
    from vq_explorer.storage.checkpoint import raw_metadata, update_metrics
    model = make_tiny_model()
    path = tmp_path / "old.safetensors"
    vqe.save(model, path)
    config = json.loads(raw_metadata(path)["config"])
    del config["prior"]["type"]
    model.config = config
    vqe.save(model, path)
    update_metrics(path, {"mse": 0.5})
    assert "type" not in json.loads(raw_metadata(path)["config"])["prior"]
    assert isinstance(vqe.load(path, device="cpu").prior, CLASSES["pixelcnn"])


def test_an_unknown_prior_type_is_a_clear_checkpoint_error(tmp_path):
    import vq_explorer as vqe
    model = make_tiny_model()
    model.config = {**model.config, "prior": {**model.config["prior"], "type": "pixelsnail"}}
    vqe.save(model, tmp_path / "x.safetensors")
    with pytest.raises(vqe.CheckpointError, match="unknown prior type 'pixelsnail'"):
        vqe.load(tmp_path / "x.safetensors")


def test_class_per_block_conditions_every_block():
    """With class_per_block each block gets its own class embedding: the logits depend on the class through
    every one of them, and causality is unchanged."""
    torch.manual_seed(5)
    m = tiny("transformer", num_classes=3, class_per_block=True)
    assert len(m.cls_blocks) == m.cfg.layers
    idx = torch.randint(0, 32, (2, 4, 4))
    for emb in m.cls_blocks:
        before = m(idx, torch.tensor([0, 1]))
        with torch.no_grad():
            emb.weight[1] += 1.0
        assert torch.equal(m(idx, torch.tensor([0, 1]))[0], before[0])        # class 0 untouched
        assert not torch.allclose(m(idx, torch.tensor([0, 1]))[1], before[1])  # class 1 moved by this block


def test_the_rnns_cache_is_read_in_raster_order_and_its_grid_is_bounded():
    m = tiny("rnn").eval()
    cache = m.cached_sampler(2, (3, 3))
    g = torch.zeros(2, 3, 3, dtype=torch.long)
    cache.logits(g, 0, 0)
    with pytest.raises(ValueError, match="raster order"):
        cache.logits(g, 1, 1)                      # a skipped cell would silently use a stale state
    with pytest.raises(ValueError, match="up to 8×8"):
        m(torch.zeros(1, 9, 9, dtype=torch.long))

