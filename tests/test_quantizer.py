from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vq_explorer.models.quantizer import VectorQuantizer, kmeans_plus_plus, nearest_code


@pytest.mark.parametrize("n,k,d", [(1, 1, 1), (37, 5, 3), (500, 256, 16), (1000, 512, 64)])
def test_nearest_code_equals_brute_force(n, k, d):
    g = torch.Generator().manual_seed(n + k)
    z, e = torch.randn(n, d, generator=g), torch.randn(k, d, generator=g)
    brute = ((z[:, None, :] - e[None, :, :]) ** 2).sum(-1).argmin(1)
    got = nearest_code(z, e)
    # Where two codes are (numerically) equally near, either answer is right: compare the distances.
    dist = lambda i: ((z - e[i]) ** 2).sum(1)  # noqa: E731
    assert torch.allclose(dist(got), dist(brute), atol=1e-4)
    assert (got == brute).float().mean() > 0.99


def test_nearest_code_never_builds_an_n_k_d_tensor():
    """20,000 vectors against 1,024 codes of dimension 64: an (N, K, d) float tensor would be 5.2 GB, the
    (N, K) distances 82 MB. Measured as the peak memory of a fresh process."""
    import subprocess
    import sys
    code = ("import resource, torch; from vq_explorer.models.quantizer import nearest_code; "
            "z, e = torch.randn(20000, 64), torch.randn(1024, 64); "
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; nearest_code(z, e); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)")
    grew_kb = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 cwd=Path(__file__).resolve().parents[1]).stdout)
    assert grew_kb < 500_000, f"nearest_code raised peak memory by {grew_kb / 1e6:.1f} GB"


@pytest.mark.parametrize("shape", [(2, 4, 7, 7), (1, 4, 3, 5), (3, 4, 1, 1)])
def test_forward_shapes_and_quantized_values_are_codes(shape):
    vq = VectorQuantizer(num_codes=16, code_dim=4, init="none").eval()
    z = torch.randn(shape)
    q, idx, loss = vq(z)
    assert q.shape == z.shape and idx.shape == (shape[0], *shape[2:]) and idx.dtype == torch.long
    assert torch.allclose(q.permute(0, 2, 3, 1), vq.codebook[idx], atol=1e-6)
    assert loss.ndim == 0


def test_straight_through_passes_gradient_unchanged():
    vq = VectorQuantizer(num_codes=8, code_dim=3, ema=False, init="none")
    z = torch.randn(2, 3, 4, 4, requires_grad=True)
    q, _, _ = vq(z)
    w = torch.randn_like(q)
    (q * w).sum().backward()
    assert torch.equal(z.grad, w)          # identity gradient through quantization
    assert vq.codebook.grad is None or vq.codebook.grad.abs().sum() == 0  # decoder path never reaches codes


def test_codebook_gets_gradient_only_from_codebook_loss():
    """loss = ‖sg[z] − e‖² + β‖z − sg[e]‖² (means over the M = B·d·h·w numbers). By hand: code k gets
    2·(n_k·e_k − Σ of its z)/M from the first term alone, the encoder output 2β(z − e)/M from the second alone. A
    commitment term that also pulled on the codebook would make the first (1 + β) times larger."""
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=8, code_dim=3, ema=False, init="none", beta=0.25)
    z = torch.randn(2, 3, 4, 4, requires_grad=True)
    q, idx, loss = vq(z)
    loss.backward()
    flat, e = z.detach().permute(0, 2, 3, 1).reshape(-1, 3), vq.codebook.detach()
    M = z.numel()
    k = idx.view(-1)
    expected = torch.zeros(8, 3).index_add_(0, k, e[k] - flat) * 2 / M
    assert torch.allclose(vq.codebook.grad, expected, atol=1e-6)
    assert torch.allclose(z.grad, 2 * 0.25 * (z.detach() - q.detach()) / M, atol=1e-6)


def test_ema_loss_is_the_commitment_alone_and_pulls_the_encoder_towards_its_code():
    """With EMA the codebook follows the data by itself, so the loss is β‖z − sg[e]‖² only: its value, and the
    encoder output's gradient 2β(z − e)/M. Without it nothing keeps the encoder near its codes."""
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=8, code_dim=3, ema=True, init="none", beta=0.25, restart_dead=False)
    z = torch.randn(2, 3, 4, 4, requires_grad=True)
    q, _, loss = vq(z)
    assert torch.allclose(loss, 0.25 * F.mse_loss(z.detach(), q.detach()))
    loss.backward()
    assert torch.allclose(z.grad, 2 * 0.25 * (z.detach() - q.detach()) / z.numel(), atol=1e-7)


def test_ema_codebook_has_no_gradient_and_moves_toward_assigned_mean():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=4, code_dim=2, ema=True, ema_decay=0.5, init="none", restart_dead=False)
    assert not vq.codebook.requires_grad
    z = torch.randn(1, 2, 16, 16) * 0.5 + 3.0
    flat = z.permute(0, 2, 3, 1).reshape(-1, 2)
    idx = nearest_code(flat, vq.codebook.detach())
    before = vq.codebook.detach().clone()
    vq.train()(z)
    for code in idx.unique():
        mean = flat[idx == code].mean(0)
        assert (vq.codebook[code] - mean).norm() < (before[code] - mean).norm()
    unused = [c for c in range(4) if c not in idx.unique()]
    for code in unused:  # a code with no assignments keeps (a shrunk-count version of) its position
        assert (vq.codebook[code] - before[code]).norm() < 1e-3


def test_ema_step_equals_the_hand_derived_update_with_laplace_smoothing():
    """Two 1-d codes at 0 and 10 (counts 1, 1), a batch of three 1s (all nearest code 0), decay 0.5, eps 0.5
    (large, so the smoothing shows): counts → 0.5·(1, 1) + 0.5·(3, 0) = (2, 0.5), sums → 0.5·(0, 10) + 0.5·(3, 0) =
    (1.5, 5); n = 2.5, smoothed sizes (count + eps) / (n + K·eps) · n = (2.5, 1) / 3.5 · 2.5; codes = sums / sizes
    = (0.84, 7.0). Without the smoothing (sizes = count + eps) they would be (0.6, 5.0)."""
    vq = VectorQuantizer(num_codes=2, code_dim=1, ema=True, ema_decay=0.5, ema_eps=0.5, init="none",
                         restart_dead=False)
    with torch.no_grad():
        vq.codebook[:, 0] = torch.tensor([0.0, 10.0])
        vq.ema_sum.copy_(vq.codebook)
        vq.ema_count.fill_(1.0)
    vq.train()(torch.ones(1, 1, 1, 3))
    assert vq.codebook[:, 0].tolist() == pytest.approx([0.84, 7.0])


def test_a_restarted_code_stays_with_the_data_under_ema():
    """A restarted code starts its EMA afresh (count 1 at its new place): left unused for a step after the restart,
    it stays near the data instead of being divided by a near-zero count."""
    vq = VectorQuantizer(num_codes=8, code_dim=2, init="none", ema=True, ema_decay=0.9, dead_after=2,
                         restart_dead=True)
    with torch.no_grad():
        vq.codebook[4:] = 1000.0
        vq.ema_sum.copy_(vq.codebook)
    z = torch.randn(2, 2, 4, 4)
    vq.train()
    vq(z)
    vq(z)                                       # restart here
    far = torch.full((1, 2, 1, 1), -50.0)       # next step: one far point, nearest an old code, not the new ones
    vq(far)
    assert vq.codebook.abs().max() < 100, "a restarted code blew up"


@pytest.mark.parametrize("init", ["kmeans++", "random"])
def test_init_from_first_batch_places_codes_on_encoder_outputs(init):
    vq = VectorQuantizer(num_codes=16, code_dim=3, init=init, ema=False).train()
    z = torch.randn(4, 3, 8, 8) * 5 + 10      # far from the default N(0, 0.1²) codebook
    vq(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 3)
    gap = torch.cdist(vq.codebook.detach(), flat, compute_mode="donot_use_mm_for_euclid_dist").min(1).values
    assert gap.max() < 1e-4 and bool(vq.initialised)
    assert len(torch.unique(vq.codebook.detach(), dim=0)) >= 12   # spread out, not all on one vector


def test_kmeans_plus_plus_covers_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0], [100, 0], [0, 100], [100, 100]])
    x = (centres[:, None] + torch.randn(4, 50, 2, generator=g)).reshape(-1, 2)
    picked = kmeans_plus_plus(x, 4, generator=g)
    assert len({int(torch.cdist(p[None], centres).argmin()) for p in picked}) == 4


def test_dead_code_restart_revives_unused_codes():
    vq = VectorQuantizer(num_codes=8, code_dim=2, init="none", ema=False, dead_after=3, restart_dead=True)
    with torch.no_grad():
        vq.codebook[4:] = 1000.0          # codes 4..7 are never nearest to anything
    z = torch.randn(2, 2, 4, 4)
    vq.train()
    for _ in range(2):
        vq(z)
    assert vq.usage[4:].sum() == 0 and (vq.unused_steps[4:] == 2).all()
    vq(z)                                  # third unused step: restart
    assert (vq.codebook[4:].abs() < 100).all(), "dead codes were not re-seeded near the data"
    assert (vq.unused_steps[4:] == 0).all() and vq.dead_codes() == 0
    _, idx, _ = vq(z)
    assert (idx >= 4).any(), "restarted codes should win some assignments"


def test_dead_codes_counted_when_restart_is_off():
    vq = VectorQuantizer(num_codes=8, code_dim=2, init="none", ema=False, dead_after=2, restart_dead=False)
    with torch.no_grad():
        vq.codebook[:4] = torch.tensor([[0.0, 0], [0, 5], [5, 0], [5, 5]])
        vq.codebook[4:] = 1000.0
    z = vq.codebook[:4].detach().t().reshape(1, 2, 2, 2)   # one vector on each of codes 0..3
    vq.train()
    for _ in range(2):
        vq(z)
    assert vq.dead_codes() == 4 and (vq.unused_steps[:4] == 0).all()


def test_usage_and_perplexity_after_each_step():
    vq = VectorQuantizer(num_codes=4, code_dim=1, init="none", ema=False, restart_dead=False)
    with torch.no_grad():
        vq.codebook[:, 0] = torch.tensor([0.0, 10, 20, 30])
    z = torch.tensor([0.0, 10, 20, 30] * 4).view(1, 1, 4, 4)
    vq.train()(z)
    assert vq.usage.tolist() == [4, 4, 4, 4]
    assert vq.perplexity() == pytest.approx(4.0)
    vq(torch.zeros(1, 1, 4, 4))
    assert vq.perplexity() == pytest.approx(1.0)


def test_bad_init_name_is_refused():
    with pytest.raises(ValueError, match="init"):
        VectorQuantizer(init="uniform")


# --- the codebook lab's variants: the rotation trick and FSQ ----------------------------------------------
def test_rotation_trick_keeps_the_value_and_rotates_the_gradient_back():
    """Forward: exactly the code. Backward (Fifty et al. 2024): a gradient along the code's direction v reaches the
    encoder along its own direction u, scaled by λ = |q|/|e| (straight-through would pass v unchanged); a gradient
    orthogonal to both passes scaled by λ."""
    from vq_explorer.models.quantizer import rotation_trick
    e = torch.tensor([[3.0, 0.0, 0.0]], requires_grad=True)      # |e| = 3, u = x
    q = torch.tensor([[0.0, 2.0, 0.0]])                          # |q| = 2, v = y, λ = 2/3
    out = rotation_trick(e, q)
    assert torch.allclose(out, q)
    (out * torch.tensor([[0.0, 1.0, 0.0]])).sum().backward()
    assert torch.allclose(e.grad, torch.tensor([[2 / 3, 0.0, 0.0]]), atol=1e-6)
    e.grad = None
    (rotation_trick(e, q) * torch.tensor([[0.0, 0.0, 1.0]])).sum().backward()
    assert torch.allclose(e.grad, torch.tensor([[0.0, 0.0, 2 / 3]]), atol=1e-6)


def test_the_rotation_variant_changes_the_encoders_gradient_not_the_forward_pass():
    torch.manual_seed(0)
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    grads, values = {}, {}
    for g in ("ste", "rotation"):
        torch.manual_seed(1)
        vq = VectorQuantizer(num_codes=8, code_dim=4, ema=False, init="none", gradient=g).train()
        q, idx, loss = vq(z)
        values[g] = (q.detach(), idx)
        (q ** 3).sum().backward()      # a decoder-like loss whose gradient is not parallel to q
        grads[g], z.grad = z.grad.clone(), None
    assert torch.equal(values["ste"][1], values["rotation"][1])
    assert torch.allclose(values["ste"][0], values["rotation"][0], atol=1e-5)
    assert not torch.allclose(grads["ste"], grads["rotation"], atol=1e-3)


def test_fsq_levels_codes_and_lookup():
    from vq_explorer.models.fsq import FSQ, fsq_levels
    assert fsq_levels(512) == (8, 8, 8) and fsq_levels(1024) == (8, 8, 4, 4) and fsq_levels(64) == (4, 4, 4)
    with pytest.raises(ValueError, match="power of two"):
        fsq_levels(500)
    fsq = FSQ(code_dim=3, levels=(8, 5, 4))
    with torch.no_grad():                        # identity projections: the rounding is visible directly
        fsq.project_in.weight.copy_(torch.eye(3)), fsq.project_in.bias.zero_()
        fsq.project_out.weight.copy_(torch.eye(3)), fsq.project_out.bias.zero_()
    flat = (torch.rand(20000, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 2.5
    idx = fsq.indices(flat)
    assert idx.min() >= 0 and idx.max() < 160 and len(idx.unique()) == 160     # every combination reachable
    q, idx4, loss = fsq.train()(flat.reshape(1, 200, 100, 3).permute(0, 3, 1, 2))
    assert torch.equal(idx4.reshape(-1), idx)                  # training and encoding agree on the codes
    assert torch.allclose(q.permute(0, 2, 3, 1).reshape(-1, 3), fsq.lookup(idx), atol=1e-6)   # and decoding
    # each dimension takes L values, spaced evenly: 8 levels → −4..3 / 4, 5 → −2..2 / 2, 4 → −2..1 / 2
    values = fsq.lookup(torch.arange(160))
    assert sorted(values[:, 0].unique().tolist()) == [k / 4 for k in range(-4, 4)]
    assert sorted(values[:, 1].unique().tolist()) == [k / 2 for k in range(-2, 3)]
    assert sorted(values[:, 2].unique().tolist()) == [k / 2 for k in range(-2, 2)]
    assert loss.item() == 0 and fsq.usage.sum() == 20000


def test_fsq_rounding_is_straight_through():
    """One dimension of 5 levels, identity projections: output = round(2·tanh(h))/2 (half = 2·1.001), so the
    gradient is that of 2.002·tanh(h)/2 at h — not 0, as plain rounding would give."""
    from vq_explorer.models.fsq import FSQ
    fsq = FSQ(code_dim=1, levels=(5,))
    with torch.no_grad():
        fsq.project_in.weight.fill_(1.0), fsq.project_in.bias.zero_()
        fsq.project_out.weight.fill_(1.0), fsq.project_out.bias.zero_()
    h = torch.tensor([[[[0.3]]]], requires_grad=True)
    q, idx, _ = fsq.train()(h)
    assert q.item() == pytest.approx(round(2.002 * 0.29131261) / 2)      # tanh(0.3) = 0.29131261
    q.sum().backward()
    assert h.grad.item() == pytest.approx(2.002 * (1 - 0.29131261 ** 2) / 2, rel=1e-4)


def test_fsq_counts_a_level_unused_for_dead_after_steps_as_dead_and_revives_it_when_used():
    """FSQ has nothing to restart, but the lab and the app report its dead codes as for the codebook: a code is
    dead after `dead_after` training steps without a use, and alive again at its next use."""
    from vq_explorer.models.fsq import FSQ
    fsq = FSQ(code_dim=1, levels=(5,), dead_after=3)
    with torch.no_grad():
        fsq.project_in.weight.fill_(1.0), fsq.project_in.bias.zero_()
    low, high = torch.full((1, 1, 2, 2), -3.0), torch.full((1, 1, 2, 2), 3.0)   # the two outer levels
    for _ in range(3):
        fsq.train()(low)
    assert fsq.dead_codes() == 4 and fsq.usage.tolist() == [4, 0, 0, 0, 0]     # all but level −2 unused 3 steps
    fsq.train()(high)
    assert fsq.dead_codes() == 3 and fsq.unused_steps.tolist() == [1, 4, 4, 4, 0]
    fsq.eval()(low)                                                              # evaluation counts nothing
    assert fsq.unused_steps.tolist() == [1, 4, 4, 4, 0]


@pytest.mark.parametrize("variant", ["plain", "ema", "ema+kmeans", "ema+kmeans+restart", "rotation", "fsq"])
def test_each_variant_trains_and_behaves_as_it_should(variant, mnist_1000):
    """60 steps on 1,000 digits, K = 64: every variant learns (reconstruction loss falls); restart leaves no code
    dead for long; FSQ uses many of its levels' combinations; k-means++ starts from data, so it uses more codes
    at once than a random codebook does."""
    from vq_explorer.models.config import VQVAEConfig, quantizer_variant
    from vq_explorer.models.vqvae import VQVAE
    torch.manual_seed(0)
    base = VQVAEConfig(num_codes=64, code_dim=8, channels=16, res_blocks=1, dead_after=10)
    cfg = quantizer_variant(base, variant)
    model = VQVAE(cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = mnist_1000[0].float() / 255
    g = torch.Generator().manual_seed(0)
    first = None
    for step in range(60):
        out = model(x[torch.randint(0, 1000, (64,), generator=g)])
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        first = first if first is not None else out.recon_loss.item()
        if step == 0:
            used_at_start = len(out.indices.unique())
    assert out.recon_loss.item() < 0.7 * first, "did not learn"
    model.eval()
    used = len(model.encode(x[:500]).unique())
    if variant == "ema+kmeans+restart":
        assert used >= 32
    if variant == "fsq":
        assert used >= 16
    if variant == "ema+kmeans":
        assert used_at_start >= 32
    if variant in ("plain", "ema"):
        assert used_at_start < 16        # a random codebook far from the encoder's outputs: few codes win
