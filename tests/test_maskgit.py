"""The masked prior (MaskGIT): bidirectional, trained to fill in hidden cells, sampled in a few parallel steps
that follow the cosine schedule; fixed cells never change and are seen by every other cell."""

import pytest
import torch
from conftest import tiny_maskgit

from vq_explorer.models.priors import build_prior
from vq_explorer.models.priors.maskgit import most_confident, schedule


def tiny(**kw):
    torch.manual_seed(0)
    return build_prior(tiny_maskgit(**kw)).eval()


def test_schedule_by_hand():
    # 49 cells in 8 steps: ⌊49·cos(π/2·s/8)⌋ left masked = 48, 45, 40, 34, 27, 18, 9, 0
    assert schedule(49, 8) == [1, 3, 5, 6, 7, 9, 9, 9]
    assert schedule(49, 49) == [1] * 49          # one cell per step: as many steps as an autoregressive pass
    assert schedule(49, 1) == [49]
    assert schedule(3, 8) == [1, 1, 1]            # never more steps than cells, never an empty step
    assert schedule(0, 8) == []
    for u in range(1, 200):       # every grid up to 14×14 with every number of steps: all cells, none twice
        for s in range(1, u + 3):
            plan = schedule(u, s)
            assert sum(plan) == u and len(plan) == min(u, s) and min(plan) >= 1, (u, s, plan)


def test_every_cell_sees_every_other_cell():
    """No causal mask: changing the last cell moves the logits of the first, and the other way round."""
    m = tiny()
    g = torch.randint(0, 32, (1, 4, 5))
    for changed, watched in [((3, 4), (0, 0)), ((0, 0), (3, 4)), ((2, 1), (2, 0))]:
        g2 = g.clone()
        g2[0, changed[0], changed[1]] = (g[0, changed[0], changed[1]] + 1) % 32
        with torch.no_grad():
            a, b = m(g)[0, :, watched[0], watched[1]], m(g2)[0, :, watched[0], watched[1]]
        assert not torch.allclose(a, b), (changed, watched)


def test_a_masked_cell_hides_its_code():
    m = tiny()
    g = torch.randint(0, 32, (1, 4, 4))
    with torch.no_grad():
        as_minus_one = m(torch.where(torch.eye(4, dtype=torch.bool), -1, g))
        as_mask_token = m(torch.where(torch.eye(4, dtype=torch.bool), 32, g))
        shown = m(g)
    assert torch.equal(as_minus_one, as_mask_token)
    assert not torch.allclose(as_minus_one, shown)


@pytest.mark.parametrize("steps", [1, 3, 4, 25])
def test_steps_commit_the_scheduled_cells_once_each(steps):
    m = tiny(num_classes=3)
    out = list(m.sample_steps(2, (5, 5), labels=torch.tensor([0, 2]), steps=steps, seed=3))
    plan = schedule(25, steps)
    assert [s.step for s in out] == list(range(1, len(plan) + 1))
    seen = torch.zeros(2, 5, 5, dtype=torch.bool)
    for s, n in zip(out, plan, strict=True):
        assert (s.cells.view(2, -1).sum(1) == n).all()
        assert not (s.cells & seen).any(), "a cell committed twice"
        seen |= s.cells
        assert torch.equal(s.grid >= 0, seen), "filled cells are exactly those committed so far"
        assert ((s.confidence > 0) == s.cells).all() and (s.confidence <= 1).all()
        assert s.cells[0, s.row, s.col]      # the highlighted cell is one committed in this step
    assert seen.all()
    for a, b in zip(out, out[1:], strict=False):           # a committed code is never changed afterwards
        assert torch.equal(b.grid[a.grid >= 0], a.grid[a.grid >= 0])


def test_fixed_cells_stay_and_only_the_others_follow_the_schedule():
    m = tiny()
    grid = torch.randint(0, 32, (5, 5))
    fixed = torch.zeros(5, 5, dtype=torch.bool)
    fixed[:2] = True                                              # 10 fixed, 15 to fill
    out = list(m.sample_steps(3, (5, 5), grid=grid, mask=fixed, steps=4, seed=0))
    assert [int(s.cells[0].sum()) for s in out] == schedule(15, 4)
    assert not any(s.cells[:, fixed].any() for s in out)
    assert all(torch.equal(s.grid[:, fixed], grid[fixed].expand(3, -1)) for s in out)


def test_fixed_cells_are_seen_when_sampling():
    """From the first step on, a different fixed cell gives different distributions elsewhere: it is context."""
    m = tiny()
    grid = torch.zeros(4, 4, dtype=torch.long)
    fixed = torch.zeros(4, 4, dtype=torch.bool)
    fixed[3, 3] = True
    other = grid.clone()
    other[3, 3] = 17
    a = next(m.sample_steps(2, (4, 4), grid=grid, mask=fixed, seed=5, steps=2))
    b = next(m.sample_steps(2, (4, 4), grid=other, mask=fixed, seed=5, steps=2))
    assert (a.row, a.col) != (3, 3) and not torch.allclose(a.probs, b.probs)


def test_one_greedy_step_is_the_argmax_of_one_pass():
    m = tiny(num_classes=3)
    y = torch.tensor([1, 2])
    got = m.sample(2, (4, 4), labels=y, steps=1, top_k=1, seed=9)
    with torch.no_grad():
        expected = m(torch.full((2, 4, 4), -1), y).argmax(1)
    assert torch.equal(got, expected)


def test_steps_out_of_range_are_refused_and_autoregressive_priors_refuse_steps():
    m = tiny()
    for bad in (0, 17):
        with pytest.raises(ValueError, match="steps must be between 1 and 16"):
            m.sample(1, (4, 4), steps=bad)
    from conftest import tiny_transformer
    ar = build_prior(tiny_transformer())
    with pytest.raises(ValueError, match="one step per cell"):
        ar.sample(1, (4, 4), steps=8)
    assert ar.sample(1, (4, 4), steps=16, seed=0).shape == (1, 4, 4)


def test_no_likelihood_but_each_cell_given_all_the_others():
    m = tiny(num_classes=3)
    g = torch.randint(0, 32, (2, 3, 4))
    y = torch.tensor([0, 2])
    with pytest.raises(ValueError, match="no exact likelihood"):
        m.log_prob(g, y)
    with torch.no_grad():
        got = m.conditional_log_probs(g, y, chunk=5)      # a chunk that splits grids across batches
        for r in range(3):
            for c in range(4):
                hidden = g.clone()
                hidden[:, r, c] = -1
                logp = torch.log_softmax(m(hidden, y)[:, :, r, c], 1)
                assert torch.allclose(got[:, r, c], logp[torch.arange(2), g[:, r, c]], atol=1e-5), (r, c)


def test_corrupt_hides_at_least_one_cell_and_nothing_else_changes():
    m = tiny()
    g = torch.randint(0, 32, (500, 4, 4))
    inputs, masked = m.corrupt(g, torch.Generator().manual_seed(0))
    assert (masked.view(500, -1).sum(1) >= 1).all()
    assert (inputs[masked] == 32).all() and torch.equal(inputs[~masked], g[~masked])
    share = masked.float().mean().item()       # E[cos(π/2·r)] = 2/π ≈ 0.64, a little more with the ceiling
    assert 0.6 < share < 0.75, share


@pytest.mark.slow
def test_a_small_masked_prior_overfits_a_few_grids():
    torch.manual_seed(0)
    grids = torch.randint(0, 32, (4, 4, 4))
    labels = torch.arange(4)
    m = build_prior(tiny_maskgit(num_classes=4, dim=32, layers=2))
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(400):
        loss = m.loss(grids.repeat(8, 1, 1), labels.repeat(8))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05, loss.item()
    m.eval()
    for steps in (1, 4, 16):
        assert torch.equal(m.sample(4, (4, 4), labels=labels, seed=0, steps=steps, top_k=1), grids), steps


def test_guidance_moves_each_class_away_from_the_unconditional_prediction():
    """Classifier-free guidance, one greedy step: the codes are the argmax of cond + g·(cond − no class), as in
    Ho & Salimans (2022); no labels means no guidance."""
    m = tiny(num_classes=3)
    with torch.no_grad():
        m.cls.weight[1] += 0.5             # make class 1 matter, so guidance has something to amplify
        y = torch.tensor([1, 1])
        empty = torch.full((2, 4, 4), -1)
        cond, free = m(empty, y), m(empty)
    for g in (1.0, 3.0):
        got = m.sample(2, (4, 4), labels=y, steps=1, top_k=1, seed=0, guidance=g)
        assert torch.equal(got, (cond + g * (cond - free)).argmax(1))
    assert not torch.equal(m.sample(2, (4, 4), labels=y, steps=1, top_k=1, guidance=3.0), cond.argmax(1))
    assert torch.equal(m.sample(2, (4, 4), steps=2, seed=4, guidance=3.0), m.sample(2, (4, 4), steps=2, seed=4))


def test_a_prior_samples_at_its_own_default_guidance_unless_told_otherwise():
    """A recipe can give a masked prior a default guidance (the colour prior's 2): sampling without a guidance
    uses it, an explicit 0 turns it off, and the model, the app's slider and the sample-accuracy figure follow."""
    from conftest import make_tiny_model

    from vq_explorer.models.config import asdict
    m = tiny(num_classes=3, guidance=2.0)
    with torch.no_grad():
        m.cls.weight[1] += 0.5
    y = torch.tensor([1, 1])
    default = m.sample(2, (4, 4), labels=y, steps=1, top_k=1, seed=0)
    assert torch.equal(default, m.sample(2, (4, 4), labels=y, steps=1, top_k=1, seed=0, guidance=2.0))
    assert not torch.equal(default, m.sample(2, (4, 4), labels=y, steps=1, top_k=1, seed=0, guidance=0.0))
    model = make_tiny_model(prior="maskgit")
    model.prior.load_state_dict(m.state_dict())
    model.prior.cfg.guidance = 2.0
    assert asdict(model.prior.cfg)["guidance"] == 2.0
    assert torch.equal(model.sample(2, labels=y, steps=1, top_k=1, seed=0),
                       model.sample(2, labels=y, steps=1, top_k=1, seed=0, guidance=2.0))
    from vq_explorer.ui.sample import masked_controls

    class One:
        def get(self, name):
            return model
    assert masked_controls(One(), "tiny")[1]["value"] == 2.0


def test_each_step_keeps_the_most_confident_masked_cells():
    score = torch.tensor([[0.9, 0.1, 0.5, 0.7, 0.3],
                          [0.2, 0.8, 0.6, 0.4, 0.1]])
    masked = torch.tensor([[True, True, True, False, True],
                           [True, True, True, True, True]])
    got = most_confident(score, masked, torch.tensor([2, 3]))
    assert got.tolist() == [[True, False, True, False, False],      # 0.9 and 0.5; 0.7 is not masked
                            [False, True, True, True, False]]       # 0.8, 0.6, 0.4


def test_the_choice_noise_changes_which_cells_come_first():
    m = tiny()
    calm = [next(m.sample_steps(1, (5, 5), steps=4, seed=s, choice_temperature=0.0)).cells for s in range(4)]
    noisy = [next(m.sample_steps(1, (5, 5), steps=4, seed=s, choice_temperature=50.0)).cells for s in range(4)]
    assert any(not torch.equal(a, b) for a, b in zip(calm, noisy, strict=True))


def test_the_loss_counts_only_the_hidden_cells():
    """Logits that are right on the hidden cells and wrong everywhere else give a loss near zero; the other way
    round, a large one."""
    m = tiny()
    g = torch.randint(0, 32, (3, 4, 4))
    _, hidden = m.corrupt(g, torch.Generator().manual_seed(1))
    right = torch.nn.functional.one_hot(g, 32).permute(0, 3, 1, 2).float() * 50
    wrong = torch.nn.functional.one_hot((g + 1) % 32, 32).permute(0, 3, 1, 2).float() * 50
    seen = []

    def network(logits):   # stands in for the net: records what it was shown, answers with `logits`
        return lambda inputs, labels: seen.append(inputs) or logits
    same_masks = lambda: torch.Generator().manual_seed(1)   # noqa: E731
    assert m.loss(g, forward=network(torch.where(hidden[:, None], right, wrong)), generator=same_masks()) < 1e-3
    assert m.loss(g, forward=network(torch.where(hidden[:, None], wrong, right)), generator=same_masks()) > 10
    assert torch.equal(seen[0] == m.mask_token, hidden)   # the network saw the grid with those cells hidden
