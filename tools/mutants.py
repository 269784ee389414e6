"""Break the code on purpose, one small change at a time, and check that a test fails each time.

    python tools/mutants.py              # every mutant: caught or MISSED, and the first test that failed
    python tools/mutants.py q-ste-no-grad fsq-no-round   # only these
    python tools/mutants.py --list

Each mutant replaces one exact piece of a source file (the guarded behaviour: the straight-through gradient, a
prior's causality, the EMA's decay, a resumed stage's optimiser state, the painter's undo ...) in a copy of the
repository, runs the tests that guard it (not the browser ones) and restores the file. A mutant whose pattern
no longer matches the source is reported as such: the list follows the code. Takes about 25 minutes on a 2-core
machine; exits 1 if any mutant is missed.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, file, the tests that must catch it,
#  the exact text, its replacement)
MUTANTS = [
    ("q-ste-no-grad", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "q_st = z + (q - z).detach()",
     "q_st = q.detach()"),
    ("q-no-commitment", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "loss = self.beta * commitment\n",
     "loss = 0 * commitment\n"),
    ("q-no-codebook-loss", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "loss = F.mse_loss(q, z.detach()) + self.beta * commitment",
     "loss = self.beta * commitment"),
    ("q-ema-no-decay", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "self.ema_sum.mul_(self.ema_decay).add_(sums, alpha=1 - self.ema_decay)",
     "self.ema_sum.add_(sums, alpha=1 - self.ema_decay)"),
    ("q-ema-no-laplace", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "size = (self.ema_count + self.ema_eps) / (n + self.num_codes * self.ema_eps) * n",
     "size = self.ema_count"),
    ("q-never-restart", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "if n_dead == 0:\n            return",
     "if True:\n            return"),
    ("q-unused-never-reset", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "self.unused_steps.add_(1).masked_fill_(counts > 0, 0)\n        if self.restart_dead",
     "self.unused_steps.add_(1)\n        if self.restart_dead"),
    ("q-kmeans-uniform", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "pick = torch.multinomial(d2, 1, generator=generator)",
     "pick = torch.randint(n, (1,), generator=generator, device=x.device)"),
    ("q-nearest-wrong", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "return codebook.pow(2).sum(1) - 2 * z @ codebook.t()",
     "return - 2 * z @ codebook.t()"),
    ("q-rotation-no-scale", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "lam = q_norm / e_norm",
     "lam = torch.ones_like(q_norm)"),
    ("q-rotation-is-ste", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "return out + (q - out).detach()",
     "return e + (q - e).detach()"),
    ("q-init-skipped", "vq_explorer/models/quantizer.py", "tests/test_quantizer.py",
     "if self.training and not bool(self.initialised):",
     "if False:"),
    ("fsq-no-round", "vq_explorer/models/fsq.py", "tests/test_quantizer.py",
     "return bounded + (bounded.round() - bounded).detach()",
     "return bounded"),
    ("fsq-no-bound", "vq_explorer/models/fsq.py", "tests/test_quantizer.py",
     "return torch.tanh(h + torch.atanh(offset / half)) * half - offset",
     "return h"),
    ("fsq-index-collide", "vq_explorer/models/fsq.py", "tests/test_quantizer.py",
     "return ((levels.round() + self._levels // 2) * self._basis).sum(-1).long()",
     "return ((levels.round() + self._levels // 2)).sum(-1).long()"),
    ("fsq-no-usage", "vq_explorer/models/fsq.py", "tests/test_quantizer.py",
     "self.unused_steps.add_(1).masked_fill_(counts > 0, 0)",
     "self.unused_steps.add_(1)"),
    ("pcnn-no-shift-down", "vq_explorer/models/priors/pixelcnn.py", "tests/test_pixelcnn.py tests/test_priors.py",
     "v, h = shift_down(e), shift_right(e)",
     "v, h = e, shift_right(e)"),
    ("pcnn-no-shift-right", "vq_explorer/models/priors/pixelcnn.py", "tests/test_pixelcnn.py tests/test_priors.py",
     "v, h = shift_down(e), shift_right(e)",
     "v, h = shift_down(e), e"),
    ("pcnn-no-v-to-h", "vq_explorer/models/priors/pixelcnn.py", "tests/test_pixelcnn.py tests/test_priors.py",
     "h_pre = self.h_conv(F.pad(h, (k, 0, 0, 0))) + self.v_to_h(v_pre)",
     "h_pre = self.h_conv(F.pad(h, (k, 0, 0, 0)))"),
    ("pcnn-no-class", "vq_explorer/models/priors/pixelcnn.py", "tests/test_pixelcnn.py tests/test_priors.py",
     "if self.cond is not None and cond_bias is not None:",
     "if False:"),
    ("pcnn-cache-stale-row", "vq_explorer/models/priors/pixelcnn.py", "tests/test_pixelcnn.py tests/test_priors.py",
     "self.v_in[0][:, :, r] = self.net.embed(grid[:, r - 1].clamp_min(0)).permute(0, 2, 1)",
     "pass"),
    ("tf-not-causal", "vq_explorer/models/priors/transformer.py", "tests/test_priors.py",
     "y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)",
     "y = F.scaled_dot_product_attention(q, k, v, is_causal=False)"),
    ("cache-wrong-input", "vq_explorer/models/priors/embedding.py", "tests/test_priors.py",
     "return self.embed(grid.view(len(grid), -1)[:, t - 1].clamp_min(0))",
     "return self.embed(grid.view(len(grid), -1)[:, max(t - 2, 0)].clamp_min(0))"),
    ("sequence-reads-own-cell", "vq_explorer/models/priors/embedding.py", "tests/test_priors.py",
     "return torch.cat([start, e.flatten(2).transpose(1, 2)[:, :-1]], 1)",
     "return e.flatten(2).transpose(1, 2)"),
    ("rnn-cache-forgets", "vq_explorer/models/priors/rnn.py", "tests/test_priors.py",
     "out, self.state = net.lstm((net.previous(grid, t) + self.context[:, t])[:, None], self.state)",
     "out, _ = net.lstm((net.previous(grid, t) + self.context[:, t])[:, None], self.state)"),
    ("rnn-no-class", "vq_explorer/models/priors/rnn.py", "tests/test_priors.py",
     "return ctx if cls is None else ctx + cls",
     "return ctx"),
    ("ar-fixed-ignored", "vq_explorer/models/priors/autoregressive.py", "tests/test_priors.py tests/test_pixelcnn.py",
     "out[:, r, c] = torch.where(fixed[:, r, c], grid[:, r, c], pick)",
     "out[:, r, c] = pick"),
    ("dist-no-temperature", "vq_explorer/models/priors/base.py", "tests/test_priors.py tests/test_pixelcnn.py",
     "logits = logits.float() / temperature",
     "logits = logits.float()"),
    ("dist-no-topk", "vq_explorer/models/priors/base.py", "tests/test_priors.py tests/test_pixelcnn.py",
     "logits = logits.masked_fill(logits < kth, float(\"-inf\"))",
     "pass"),
    ("mg-schedule-all-first", "vq_explorer/models/priors/maskgit.py", "tests/test_maskgit.py",
     "left = 0 if s == steps else min(math.floor(unknown * math.cos(math.pi / 2 * s / steps)), remaining - 1)",
     "left = 0"),
    ("mg-least-confident", "vq_explorer/models/priors/maskgit.py", "tests/test_maskgit.py",
     "ranks = score.argsort(dim=1, descending=True, stable=True).argsort(dim=1)",
     "ranks = score.argsort(dim=1, descending=False, stable=True).argsort(dim=1)"),
    ("mg-loss-all-cells", "vq_explorer/models/priors/maskgit.py", "tests/test_maskgit.py",
     "return F.cross_entropy(logits.float().permute(0, 2, 3, 1)[hidden], grids[hidden])",
     "return F.cross_entropy(logits.float(), grids)"),
    ("mg-causal", "vq_explorer/models/priors/maskgit.py", "tests/test_maskgit.py",
     "Block(cfg, causal=False)",
     "Block(cfg, causal=True)"),
    ("mg-corrupt-none", "vq_explorer/models/priors/maskgit.py", "tests/test_maskgit.py",
     "return torch.where(masked, self.mask_token, idx), masked",
     "return idx, masked"),
    ("train-no-zero-grad", "vq_explorer/models/training.py", "tests/test_train.py tests/test_precision.py tests/test_lab.py",
     "opt.zero_grad(set_to_none=True)\n        loss.backward()",
     "loss.backward()"),
    ("train-no-step", "vq_explorer/commands/train.py", "tests/test_train.py",
     "            opt.step()\n            p.step, seconds",
     "            p.step, seconds"),
    ("train-no-schedule", "vq_explorer/commands/train.py", "tests/test_train.py",
     "            lr = training.cosine_lr(base_lr, progress())",
     "            lr = base_lr"),
    ("lab-no-step", "vq_explorer/models/training.py", "tests/test_precision.py tests/test_lab.py",
     "        opt.step()\n        yield",
     "        yield"),
    ("state-no-opt", "vq_explorer/storage/state.py", "tests/test_train.py tests/test_rebuild.py tests/test_storage.py",
     "        load_optimizer(opt, tensors)",
     "        pass"),
    ("state-no-rng", "vq_explorer/storage/state.py", "tests/test_train.py tests/test_rebuild.py tests/test_storage.py",
     "        torch.set_rng_state(tensors[f\"rng.cpu{suffix}\"])",
     "        pass"),
    ("hist-undo-keeps", "vq_explorer/ui/history.py", "tests/test_app.py tests/test_explorer.py",
     "return {\"grid\": state[\"undo\"][-1], \"undo\": state[\"undo\"][:-1], \"redo\": state[\"redo\"] + [state[\"grid\"]]}",
     "return {\"grid\": state[\"grid\"], \"undo\": state[\"undo\"][:-1], \"redo\": state[\"redo\"] + [state[\"grid\"]]}"),
    ("hist-push-keeps-redo", "vq_explorer/ui/history.py", "tests/test_app.py tests/test_explorer.py",
     "\"undo\": (state[\"undo\"] + [state[\"grid\"]])[-limit:], \"redo\": []}",
     "\"undo\": (state[\"undo\"] + [state[\"grid\"]])[-limit:], \"redo\": state[\"redo\"]}"),
    ("paint-constraints-inverted", "vq_explorer/ui/paint.py", "tests/test_app.py tests/test_explorer.py",
     "return torch.tensor(hist[\"grid\"]), ~reg",
     "return torch.tensor(hist[\"grid\"]), reg"),
    ("inpaint-mask-inverted", "vq_explorer/service/sampling.py", "tests/test_app.py tests/test_explorer.py",
     "grid=grid[None], mask=~region[None])[0]",
     "grid=grid[None], mask=region[None])[0]"),
    ("partial-background", "vq_explorer/service/grids.py", "tests/test_app.py tests/test_explorer.py",
     "return model.decode(torch.where(grids >= 0, grids, torch.full_like(grids, most_used_code(model))))",
     "return model.decode(grids.clamp_min(0))"),
    ("random-grid-uniform", "vq_explorer/service/grids.py", "tests/test_app.py tests/test_explorer.py",
     "u = usage(model).double() + 1e-3",
     "u = torch.ones_like(usage(model)).double()"),
    ("sample-grid-no-label", "vq_explorer/service/sampling.py", "tests/test_app.py tests/test_explorer.py",
     "    y = None if label is None else torch.tensor([label])\n    return model.sample(1, labels=y, temperature=float(temperature), seed=seed)[0]",
     "    y = None\n    return model.sample(1, labels=y, temperature=float(temperature), seed=seed)[0]"),
    ("sample-grid-no-temp", "vq_explorer/service/sampling.py", "tests/test_app.py tests/test_explorer.py",
     "return model.sample(1, labels=y, temperature=float(temperature), seed=seed)[0]",
     "return model.sample(1, labels=y, temperature=1.0, seed=seed)[0]"),
    ("errmap-scale", "vq_explorer/views/pictures.py", "tests/test_app.py tests/test_explorer.py tests/test_photos.py",
     "np.clip(err.cpu().numpy() / 0.5, 0, 1)",
     "np.clip(err.cpu().numpy() / 1.0, 0, 1)"),
    ("errmap-reversed", "vq_explorer/views/pictures.py", "tests/test_app.py tests/test_explorer.py tests/test_photos.py",
     "return np.array([plotly.colors.unlabel_rgb(c) for c in rgb]).round().astype(np.uint8)",
     "return np.array([plotly.colors.unlabel_rgb(c) for c in rgb[::-1]]).round().astype(np.uint8)"),
    ("readme-never-stale", "tools/readme_results.py", "tests/test_readme_results.py",
     "        if body != m[\"body\"]:\n            stale.append(m[\"name\"])",
     "        pass"),
    ("tie-not-named", "vq_explorer/views/results.py", "tests/test_app.py tests/test_readme_results.py",
     "tied = [n for n, v in acc if n != rnn and v == mine] if weakest_samples else []",
     "tied = []"),
    ("bits-per-dim-wrong", "vq_explorer/views/results.py", "tests/test_app.py tests/test_readme_results.py",
     "return None if bits is None or not dims else bits / dims",
     "return None if bits is None or not dims else bits / dims / 8"),
    ("pca-no-sign", "vq_explorer/service/codebook.py", "tests/test_explorer.py tests/test_app.py tests/test_storage.py",
     "v = v[:2] * v[:2].gather(1, v[:2].abs().argmax(1, keepdim=True)).sign()",
     "v = v[:2]"),
    ("catalog-ignores-mtime", "vq_explorer/service/catalog.py", "tests/test_explorer.py tests/test_app.py tests/test_storage.py",
     "return _load_cached(str(path), path.stat().st_mtime)",
     "return _load_cached(str(path), 0.0)"),
    ("update-metrics-drops-stats", "vq_explorer/storage/checkpoint.py", "tests/test_checkpoint.py tests/test_evaluate.py tests/test_storage.py",
     "        tensors |= {f\"stats.{k}\": v for k, v in stats.items()}",
     "        pass"),
    ("checkpoint-owner-only", "vq_explorer/storage/checkpoint.py", "tests/test_storage.py",
     '    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)',
     '    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)'),
    ("checkpoint-written-in-place", "vq_explorer/storage/checkpoint.py", "tests/test_checkpoint.py",
     '    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")',
     "    tmp = path\n    path.unlink(missing_ok=True)"),
    ("idx-rank-wrong", "vq_explorer/storage/data.py", "tests/test_storage.py",
     "    rank = raw[3]",
     "    rank = raw[2] + 3"),
    ("cifar-no-transpose", "vq_explorer/storage/data.py", "tests/test_storage.py",
     "xtr = np.concatenate([p[\"images\"] for p in train]).transpose(0, 3, 1, 2)",
     "xtr = np.concatenate([p[\"images\"] for p in train]).reshape(-1, 3, 32, 32)"),
    ("folder-no-classes", "vq_explorer/storage/data.py", "tests/test_storage.py tests/test_train.py",
     "y = np.array([target for _, target in samples])",
     "y = np.zeros(len(samples), dtype=np.int64)"),
    ("perplexity-wrong", "vq_explorer/models/metrics.py", "tests/test_quantizer.py tests/test_evaluate.py tests/test_lab.py",
     "return float(torch.exp(-(p * torch.log(p.clamp_min(1e-300))).sum()))",
     "return float(torch.exp(-(torch.log(p.clamp_min(1e-300))).mean()))"),
    ("rebuild-ignores-machine", "vq_explorer/commands/rebuild.py", "tests/test_rebuild.py tests/test_shipped.py",
     "return recorded == sorted(map(recipe_key, self.expected_commands())) and bool(train.get(\"machine\"))",
     "return recorded == sorted(map(recipe_key, self.expected_commands()))"),
    ("rebuild-never-clears", "vq_explorer/commands/rebuild.py", "tests/test_rebuild.py",
     "        shutil.rmtree(b.run)\n\n\ndef train(",
     "        pass\n\n\ndef train("),
    ("rebuild-left-pace", "vq_explorer/commands/rebuild.py", "tests/test_rebuild.py",
     "pace = info[\"elapsed\"] / info[\"step\"]",
     "pace = info[\"elapsed\"]"),
    ("rebuild-keeps-partial", "vq_explorer/commands/rebuild.py", "tests/test_rebuild.py",
     "        if b.run.exists():   # exported and evaluated: the resumable state has served\n            shutil.rmtree(b.run)",
     "        pass"),
    ("read-opens-twice", "vq_explorer/storage/checkpoint.py", "tests/test_checkpoint.py",
     "    return safetensors_load(Path(path).read_bytes())",
     "    from safetensors.torch import load_file\n    return load_file(str(path))"),
    ("rebuild-any-partial-ships", "vq_explorer/commands/rebuild.py", "tests/test_rebuild.py",
     "    return keys == {recipe_key(shlex.join(b.command()))}",
     "    return bool(keys)"),
    ("load-reads-twice", "vq_explorer/storage/checkpoint.py", "tests/test_checkpoint.py",
     "    meta, tensors = read_checkpoint(path)\n",
     "    meta = read_metadata(path)\n    tensors = read_tensors(path)\n"),
    ("offline-dataset-traceback", "vq_explorer/storage/data.py", "tests/test_storage.py",
     "    except (OSError, RuntimeError) as e:\n        reason",
     "    except ZeroDivisionError as e:\n        reason"),
    ("draw-at-zero-leaves-top-k", "vq_explorer/models/priors/base.py", "tests/test_priors.py",
     "[:, None], right=True)",
     "[:, None])"),
    ("draw-at-top-leaves-top-k", "vq_explorer/models/priors/base.py", "tests/test_priors.py",
     "        return torch.minimum(pick, last)",
     "        return pick.clamp_max(probs.shape[1] - 1)"),
    ("state-reads-twice", "vq_explorer/storage/state.py", "tests/test_checkpoint.py",
     "    return json.loads(meta[\"info\"])",
     "    return read_info(path)"),
    ("tiles-cache-keeps-models", "vq_explorer/service/codebook.py", "tests/test_app.py",
     "@per_model\ndef tiles(model)",
     "@lru_cache(maxsize=8)\ndef tiles(model)"),
    ("sprite-cache-keeps-models", "vq_explorer/ui/paint.py", "tests/test_app.py",
     "@per_model\ndef _sprite(model)",
     "@functools.lru_cache(maxsize=8)\ndef _sprite(model)"),
    ("export-outside-swept-folder", "vq_explorer/ui/paint.py", "tests/test_app.py",
     "    path = temp_file(\".json\", \"code-grid-\")",
     "    import tempfile\n    path = tempfile.mkstemp(suffix=\".json\")[1]"),
    ("no-image-message-shows-insides", "vq_explorer/storage/images.py", "tests/test_explorer.py",
     "    except UnidentifiedImageError:\n        raise ImageInputError(f\"{name} is not an image this app can read: ",
     "    except UnidentifiedImageError as e:\n        raise ImageInputError(f\"{name} ({e}) is not an image this app can read: "),
    ("sample-sized-by-training-grid", "vq_explorer/ui/sample.py", "tests/test_app.py",
     "    h, w = model.grid if grid is None else tuple(grid.shape[-2:])",
     "    h, w = model.grid"),
    ("photo-grid-streams-every-cell", "vq_explorer/ui/sample.py", "tests/test_app.py",
     "    every = 1 if masked or h * w <= CELL_BY_CELL else w",
     "    every = 1"),
    ("rng-rank0-on-every-rank", "vq_explorer/storage/state.py", "tests/test_train.py",
     "    suffix = f\".rank{rank}\" if rank else \"\"",
     "    suffix = \"\""),
    ("margin-not-relative", "vq_explorer/service/quantization.py", "tests/test_quantization.py",
     "(d[:, 1] - d[:, 0]) / d[:, 0].clamp_min(1e-12)",
     "(d[:, 1] - d[:, 0])"),
    ("ranks-ignore-ties", "vq_explorer/service/quantization.py", "tests/test_quantization.py",
     "return torch.sort(scores, dim=1, stable=True).indices",
     "return torch.sort(scores, dim=1, descending=True).indices.flip(1)"),
    ("cell-click-transposed", "vq_explorer/ui/quantize.py", "tests/test_app.py",
     "row, col = int(y) // px, int(x) // px",
     "row, col = int(x) // px, int(y) // px"),
    ("codec-threads-as-they-are", "vq_explorer/service/codec.py", "tests/test_codec.py",
     "    torch.set_num_threads(1)\n    try:",
     "    try:"),
    ("codec-no-checksum", "vq_explorer/service/codec.py", "tests/test_codec.py",
     "    if checksum(grid) != head[\"checksum\"]:",
     "    if False:"),
    ("codec-any-model", "vq_explorer/service/codec.py", "tests/test_codec.py",
     "    if head[\"model\"] != model_id(model):",
     "    if False:"),
]

def run(mutant, copy: Path) -> tuple[str, str]:
    name, file, tests, old, new = mutant
    path = copy / file
    text = path.read_text()
    if text.count(old) != 1:
        return f"pattern found {text.count(old)} times", ""
    path.write_text(text.replace(old, new))
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m",
                            "not browser", *tests.split()], cwd=copy, capture_output=True, text=True)
    finally:
        path.write_text(text)
    failed = [line.split(" - ")[0].removeprefix("FAILED ").removeprefix("ERROR ")
              for line in r.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return ("caught", failed[0] if failed else "") if r.returncode else ("MISSED", "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="mutants to run (default: all)")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if not args.names or m[0] in args.names]
    if args.list:
        for name, file, *_ in chosen:
            print(f"{name:28s} {file}")
        return
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "out", "__pycache__"))
        print("| mutant | file | result | first failing test |\n|---|---|---|---|")
        for mutant in chosen:
            t = time.time()
            result, test = run(mutant, copy)
            missed += result != "caught"
            print(f"| {mutant[0]} | {mutant[1]} | {result} ({time.time() - t:.0f} s) | {test} |", flush=True)
    print(f"\n{len(chosen) - missed} of {len(chosen)} caught")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
