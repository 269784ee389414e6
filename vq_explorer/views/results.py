"""The measured results as people read them: tables and findings built from the benchmark CSVs.

The Trade-off tab and the docs both show them, so every figure in their words comes from one file
(`benchmarks/results/tradeoff.csv`, written by `benchmarks/tradeoff.py`; `maskgit_steps.csv`, by
`benchmarks/maskgit_steps.py`) and cannot drift from the measurement. No torch here: rows are dicts of strings
or numbers, as `csv.DictReader` gives them.
"""

import csv
import os
from pathlib import Path

from ..models.config import FAMILY_NAMES

# $VQE_RESULTS, else benchmarks/results in the current directory (a clone's root, or a Space's).
RESULTS = Path(os.environ.get("VQE_RESULTS") or Path("benchmarks") / "results")
FAMILIES = {kind: FAMILY_NAMES[kind] for kind in ("pixelcnn", "transformer", "rnn", "maskgit")}   # table order
DATASETS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


def read_rows(folder: Path = RESULTS, name: str = "tradeoff.csv") -> list[dict]:
    path = Path(folder) / name
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def family(row: dict) -> str:
    """A trade-off row's prior; rows measured before the column existed are PixelCNNs."""
    return row.get("prior") or "pixelcnn"


def num(row: dict, key: str) -> float | None:
    value = row.get(key)
    return None if value in (None, "") else float(value)


def cells(row: dict) -> int:
    h, w = row["grid"].split("x")
    return int(h) * int(w)


def grid_name(row: dict) -> str:
    return row["grid"].replace("x", "×")


def label(row: dict) -> str:
    """A model's short name on a chart: its grid and prior family."""
    return f"{grid_name(row)} {FAMILIES.get(family(row), family(row))}"


def _share(value) -> str:
    return "—" if value in (None, "") else f"{float(value):.1%}"


def _fixed(value, fmt: str, unit: str = "") -> str:
    return "—" if value in (None, "") else f"{float(value):{fmt}}{unit}"


def _epochs(row: dict) -> str:
    v, p = num(row, "vqvae_epochs"), num(row, "prior_epochs")
    return f"{'?' if v is None else f'{v:g}'} / {'?' if p is None else f'{p:g}'}"


def markdown(header: list[str], lines) -> str:
    """A markdown table: the header, its rule, one row per list of cells."""
    rows = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return "\n".join(rows + ["| " + " | ".join(map(str, c)) + " |" for c in lines])


# --- the grid sizes ---------------------------------------------------------------------------------------
def grid_rows(rows: list[dict]) -> list[dict]:
    """One row per VQ-VAE: its PixelCNN (every grid has one), largest grid first within a dataset."""
    return sorted((r for r in rows if family(r) == "pixelcnn"), key=lambda r: (r["dataset"], -cells(r)))


def grid_table(rows: list[dict]) -> str:
    rows = grid_rows(rows)
    if not rows:
        return "_No measurements yet: run `python benchmarks/tradeoff.py`._"
    header = ["model", "grid", "K", "epochs VQ-VAE / prior", "MSE", "PSNR", "bits/image", "bits/dim",
              "samples read as their class", "ms/image b=1", "ms/image b=16", "cached speed-up b=16"]
    return markdown(header, ([r["model"], grid_name(r), r["K"], _epochs(r), _fixed(r["mse"], ".4f"),
                              _fixed(r["psnr"], ".1f", " dB"), _fixed(r.get("bits_per_image"), ".0f"),
                              _fixed(bits_per_dim(r), ".3f"), _share(r.get("sample_accuracy")),
                              _fixed(r.get("sample_ms_b1"), ".0f"), _fixed(r.get("sample_ms_b16"), ".1f"),
                              _fixed(r.get("speedup_b16"), ".1f", "×")] for r in rows))


def bits_per_dim(row: dict) -> float | None:
    """Bits per image over the image's numbers (pixels × channels), the figure papers quote for CIFAR-10."""
    bits, dims = num(row, "bits_per_image"), num(row, "image_dims")
    return None if bits is None or not dims else bits / dims


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}×"


def grid_findings(rows: list[dict]) -> str:
    """What the grid sizes say, in sentences whose every number is a cell of the table: each step down in grid
    size, what it costs in PSNR and gives in bits and time, and whether the samples keep their class."""
    out = []
    by_dataset = {}
    for r in grid_rows(rows):
        by_dataset.setdefault(r["dataset"], []).append(r)
    for ds, rs in by_dataset.items():
        name = DATASETS.get(ds, ds)
        if len(rs) == 1:
            r = rs[0]
            per_dim = bits_per_dim(r)
            dims = f" ({per_dim:.3f} bits per dimension)" if per_dim is not None else ""
            out.append(f"**{name}**, one grid ({grid_name(r)} codes): test PSNR {num(r, 'psnr'):.1f} dB, "
                       f"{num(r, 'bits_per_image'):.0f} bits per image{dims}; one sample takes "
                       f"{num(r, 'sample_ms_b1'):.0f} ms, {num(r, 'sample_ms_b16'):.1f} ms per image in a "
                       f"batch of 16.")
            continue
        fair = len({_epochs(r) for r in rs}) == 1
        budget = (f"all at {_epochs(rs[0]).replace(' / ', ' VQ-VAE and ')} prior epochs" if fair else
                  "at different epochs, so the steps below mix grid size and training budget")
        steps = []
        for a, b in zip(rs, rs[1:], strict=False):
            (pa, pb), (ba, bb) = ((num(a, k), num(b, k)) for k in ("psnr", "bits_per_image"))
            ta, tb = num(a, "sample_ms_b1"), num(b, "sample_ms_b1")
            sentence = (f"{grid_name(a)} → {grid_name(b)} costs {pa - pb:.1f} dB of PSNR ({pa:.1f} → {pb:.1f}) "
                        f"and takes {ba:.0f} → {bb:.0f} bits per image to store; one image samples "
                        f"{_ratio(ta, tb)} faster ({ta:.0f} → {tb:.0f} ms)")
            acc_a, acc_b = num(a, "sample_accuracy"), num(b, "sample_accuracy")
            if acc_a is not None and acc_b is not None:
                sentence += f", and {acc_a:.1%} → {acc_b:.1%} of its samples are read as their class"
            steps.append(sentence + ".")
        out.append(f"**{name}**, {len(rs)} grids {budget}. " + " ".join(steps))
        accs = [num(r, "sample_accuracy") for r in rs]
        if None not in accs:
            spread = max(accs) - min(accs)
            kept = ("the class survives every grid (samples read as their class within "
                    f"{100 * spread:.1f} points): what a smaller grid gives up is reconstruction detail, not "
                    "the digit" if spread < 0.03 else
                    f"the share of samples read as their class moves by {100 * spread:.1f} points across the "
                    "grids: a grid size changes what the prior can write, not only the detail")
            out.append(f"On {name}, {kept}.")
    return "\n\n".join(out)


# --- the prior families over the same codes ---------------------------------------------------------------
def family_groups(rows: list[dict]) -> list[list[dict]]:
    """Rows that model the same VQ-VAE's codes (same dataset, grid and test MSE) with different priors, the
    groups with more than one family, families in a fixed order."""
    groups = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["grid"], r["mse"]), []).append(r)
    order = list(FAMILIES)
    return [sorted(g, key=lambda r: order.index(family(r)) if family(r) in order else len(order))
            for g in groups.values() if len({family(r) for r in g}) > 1]


def families_table(rows: list[dict]) -> str:
    groups = family_groups(rows)
    if not groups:
        return ""
    header = ["grid", "prior", "model", "parameters", "epochs", "training min", "test bits/image",
              "samples read as their class", "ms/image b=1, cached / plain", "ms/image b=16, cached / plain"]

    def line(r):
        exact = num(r, "bits_per_image") is not None
        plain1, plain16 = num(r, "plain_ms_b1"), num(r, "plain_ms_b16")
        steps = f" ({int(num(r, 'sample_steps'))} steps)" if not exact and num(r, "sample_steps") else ""
        return [grid_name(r), FAMILIES.get(family(r), family(r)) + steps, r["model"],
                f"{int(num(r, 'params_prior')) / 1e6:.2f} M", _fixed(r.get("prior_epochs"), "g"),
                _fixed(r.get("prior_minutes"), ".0f"), _fixed(r.get("bits_per_image"), ".1f") if exact else
                "— (no likelihood)", _share(r.get("sample_accuracy")),
                f"{num(r, 'sample_ms_b1'):.0f} / {'—' if plain1 is None else f'{plain1:.0f}'}",
                f"{num(r, 'sample_ms_b16'):.1f} / {'—' if plain16 is None else f'{plain16:.1f}'}"]
    return markdown(header, (line(r) for g in groups for r in g))


def _ranked(group, key, best_low: bool) -> list[tuple[str, float]]:
    found = [(FAMILIES.get(family(r), family(r)), num(r, key)) for r in group if num(r, key) is not None]
    return sorted(found, key=lambda p: p[1], reverse=not best_low)


def family_findings(rows: list[dict]) -> str:
    """The families compared in sentences built from the table, and whether the assignment's word on the RNN
    ("generally a weak model") holds at equal size and epochs — decided by the numbers, not written in."""
    out = []
    for g in family_groups(rows):
        head = f"**{len(g)} priors over the same {grid_name(g[0])} {DATASETS.get(g[0]['dataset'], '')} codes**"
        sizes = [num(r, "params_prior") for r in g]
        epochs = {r.get("prior_epochs") for r in g}
        head += (f" ({min(sizes) / 1e6:.2f}–{max(sizes) / 1e6:.2f} M parameters, "
                 + (f"{_fixed(g[0].get('prior_epochs'), 'g')} epochs each)" if len(epochs) == 1
                    else "different epochs)"))
        bits = _ranked(g, "bits_per_image", best_low=True)
        acc = _ranked(g, "sample_accuracy", best_low=False)
        one = _ranked(g, "sample_ms_b1", best_low=True)
        batch = _ranked(g, "sample_ms_b16", best_low=True)
        parts = [head + "."]
        if bits:
            parts.append("Test bits per image (lower is a better likelihood): "
                         + ", ".join(f"{n} {v:.1f}" for n, v in bits) + ".")
        if acc:
            parts.append("Samples read as their class: " + ", ".join(f"{n} {v:.1%}" for n, v in acc) + ".")
        parts.append("One image (ms, sample and decode): " + ", ".join(f"{n} {v:.0f}" for n, v in one)
                     + "; per image in a batch of 16: " + ", ".join(f"{n} {v:.1f}" for n, v in batch) + ".")
        rnn = FAMILIES["rnn"]
        if len(bits) > 1 and any(n == rnn for n, _ in bits):
            weakest_bits = bits[-1][0] == rnn
            others = [v for n, v in acc if n != rnn]
            mine = dict(acc).get(rnn)
            weakest_samples = mine is not None and bool(others) and mine <= min(others)
            tied = [n for n, v in acc if n != rnn and v == mine] if weakest_samples else []
            fewest = ("the fewest samples read as their class" + (f" (tied with the {', '.join(tied)})" if tied
                                                                   else ""))
            gap = dict(bits)[rnn] - bits[0][1]
            if weakest_bits and weakest_samples:
                verdict = (f"The assignment's \"generally a weak model\" holds here: the RNN has the worst "
                           f"likelihood ({gap:.1f} bits per image behind the {bits[0][0]}) and {fewest}.")
            elif weakest_bits:
                verdict = (f"The assignment's \"generally a weak model\" holds for the likelihood (the RNN is "
                           f"{gap:.1f} bits per image behind the {bits[0][0]}) but not for the samples, which are "
                           "read as their class as often as others'.")
            elif weakest_samples:
                verdict = ("The assignment's \"generally a weak model\" does not hold for the likelihood (the RNN "
                           f"is not last; {gap:+.1f} bits per image against the {bits[0][0]}), only for the "
                           f"samples: {fewest}.")
            else:
                verdict = ("The assignment's \"generally a weak model\" does not hold at this size and budget: "
                           f"the RNN is neither the worst likelihood ({gap:+.1f} bits per image against the "
                           f"{bits[0][0]}) nor the fewest samples read as their class.")
            parts.append(verdict)
        out.append(" ".join(parts))
    return "\n\n".join(out)


# --- the masked prior's steps -----------------------------------------------------------------------------
def steps_table(rows: list[dict]) -> str:
    """benchmarks/maskgit_steps.py's rows: quality and time per number of steps, the AR priors beside."""
    if not rows:
        return ""
    header = ["grid", "prior", "steps", "guidance", "samples read as their class", "ms/image b=1", "ms/image b=16",
              "measured"]
    return markdown(header, ([grid_name(r), r["prior"], r["steps"], f"{(num(r, 'guidance') or 0.0):g}",
                              _share(r.get("accuracy")), f"{num(r, 'ms_b1'):.1f}", f"{num(r, 'ms_b16'):.1f}",
                              r["what"]] for r in rows))


def steps_findings(rows: list[dict]) -> str:
    """The fewest parallel steps that sample as well as the cached autoregressive prior, and what they cost."""
    rs = [r for r in rows if num(r, "accuracy") is not None]
    masked = sorted((r for r in rs if r["prior"] == "maskgit" and not num(r, "guidance")),
                    key=lambda r: int(r["steps"]))
    # compared on the masked prior's own grid: a trained autoregressive prior on another grid is not a rival
    ar = [r for r in rs if r["prior"] != "maskgit" and masked and r["grid"] == masked[0]["grid"]]
    if not ar or not masked:
        return ""
    ref = max(ar, key=lambda r: num(r, "accuracy"))
    ref_name, ref_acc = FAMILIES.get(ref["prior"], ref["prior"]), num(ref, "accuracy")
    enough = next((r for r in masked if num(r, "accuracy") >= ref_acc - 0.01), None)
    one = masked[0]
    text = (f"On {grid_name(ref)} codes the cached {ref_name} writes {ref['steps']} cells one after another: "
            f"{num(ref, 'ms_b1'):.0f} ms for one image, {ref_acc:.1%} of its samples read as their class. "
            f"The masked prior in {one['steps']} step{'' if int(one['steps']) == 1 else 's'} takes "
            f"{num(one, 'ms_b1'):.0f} ms and "
            f"{num(one, 'accuracy'):.1%} are read as their class.")
    if enough is not None:
        text += (f" {enough['steps']} steps match the {ref_name} within a point ({num(enough, 'accuracy'):.1%})"
                 f" in "
                 f"{num(enough, 'ms_b1'):.0f} ms, {_ratio(num(ref, 'ms_b1'), num(enough, 'ms_b1'))} faster "
                 f"for one image; in a batch of 16 they take {num(enough, 'ms_b16'):.1f} ms per image against "
                 f"{num(ref, 'ms_b16'):.1f}.")
    guided = sorted((r for r in rs if r["prior"] == "maskgit" and num(r, "guidance")),
                    key=lambda r: int(r["steps"]))
    best = next((r for r in guided if num(r, "accuracy") >= 0.99), None)
    if best is not None:
        text += (f" With classifier-free guidance (g = {num(best, 'guidance'):g}), {best['steps']} steps reach "
                 f"{num(best, 'accuracy'):.1%} in {num(best, 'ms_b1'):.0f} ms.")
    return text


# --- the codec: bytes against PSNR ------------------------------------------------------------------------
SETS = {**DATASETS, "photos": "the repository's photos"}


def rate_sets(rows: list[dict]) -> list[str]:
    """The image sets measured (rows as in benchmarks/results/rate_distortion.csv), in the order written."""
    return list(dict.fromkeys(r["set"] for r in rows))


def rate_bytes(row: dict, less_fixed: bool = False) -> float:
    """A point's bytes per image: the whole file, or less its fixed cost (our header; a classic format's
    all-black image)."""
    return num(row, "bytes") - (num(row, "fixed") or 0.0 if less_fixed else 0.0)


def classic_codecs(rows: list[dict], image_set: str) -> list[str]:
    """The lossy formats measured on a set (WebP, JPEG, AVIF: whichever the benchmark wrote), in the order
    written."""
    return list(dict.fromkeys(r["codec"] for r in rows if r["set"] == image_set and r["kind"] == "classic"))


def curve(rows: list[dict], image_set: str, codec: str) -> list[dict]:
    return sorted((r for r in rows if r["set"] == image_set and r["codec"] == codec),
                  key=lambda r: num(r, "quality"))


def bytes_at(points: list[dict], target: float, less_fixed: bool = False) -> float | None:
    """A classic codec's bytes at `target` dB, read off its curve between the two qualities around it (linear in
    PSNR, geometric in bytes); None where the curve does not pass through `target`."""
    for a, b in zip(points, points[1:], strict=False):
        pa, pb = num(a, "psnr"), num(b, "psnr")
        if min(pa, pb) <= target <= max(pa, pb):
            ba, bb = rate_bytes(a, less_fixed), rate_bytes(b, less_fixed)
            t = 0.0 if pb == pa else (target - pa) / (pb - pa)
            return ba * (bb / ba) ** t if ba > 0 and bb > 0 else ba + (bb - ba) * t
    return None


def _against(called: str, points: list[dict], model: dict) -> str:
    """One classic codec against a model's point, in words: its bytes at the model's PSNR, whole and without the
    fixed costs; or, where even its lowest quality is sharper, what that lowest quality costs."""
    p, size, codes = num(model, "psnr"), num(model, "bytes"), rate_bytes(model, True)
    whole, less = bytes_at(points, p), bytes_at(points, p, less_fixed=True)
    if whole is not None:
        return (f"{called} needs {whole:,.0f} bytes ({whole / size:.1f}× ours; without fixed costs {less:,.0f} "
                f"against our {codes:,.1f}, {less / max(codes, 1e-9):.1f}×)")
    low = min(points, key=lambda r: num(r, "psnr"), default=None)
    if low is not None and num(low, "psnr") > p:
        return (f"{called}'s lowest quality ({num(low, 'quality'):.0f}) is sharper, {num(low, 'psnr'):.1f} dB, "
                f"and costs {num(low, 'bytes'):,.0f} bytes ({num(low, 'bytes') / size:.1f}× ours)")
    return f"{called} does not reach {p:.1f} dB at the qualities measured"


def models_at(rows: list[dict], image_set: str) -> list[dict]:
    """The models' points on a set, fewest bytes first."""
    return sorted((r for r in rows if r["set"] == image_set and r["kind"] == "model"),
                  key=lambda r: num(r, "bytes"))


def smaller_than_ours(rows: list[dict], image_set: str) -> list[str]:
    """Where a classic format needs fewer bytes than a model's file at the model's PSNR (read off its curve), in
    words: what a chart of the set must not leave for the reader to find."""
    out = []
    for m in models_at(rows, image_set):
        for called in classic_codecs(rows, image_set):
            theirs = bytes_at(curve(rows, image_set, called), num(m, "psnr"))
            if theirs is not None and theirs < num(m, "bytes"):
                out.append(f"at {num(m, 'psnr'):.1f} dB {called} needs {theirs:,.0f} bytes, fewer than "
                           f"{m['codec']}'s {num(m, 'bytes'):,.0f}")
    return out


def rate_findings(rows: list[dict], image_set: str) -> str:
    """What the bytes say on one set, every number read from the rows: each model's file against each lossy
    format at its PSNR (whole files, and without the fixed costs), and, where one dataset has several grids, the
    downsampling factor in bytes."""
    models = models_at(rows, image_set)
    if not models:
        return ""
    name = SETS.get(image_set, image_set)
    curves = {called: curve(rows, image_set, called) for called in classic_codecs(rows, image_set)}
    webp, classic = curves.get("WebP", []), [r for points in curves.values() for r in points]
    out = []
    for m in models:
        parts = [_against(called, points, m) for called, points in curves.items()]
        grid = "" if m["grid"] == "own size" else f" ({grid_name(m)} grid, {FAMILIES.get(m['prior'], m['prior'])})"
        out.append(f"- **{m['codec']}**{grid}: {num(m, 'bytes'):,.1f} bytes per image at {num(m, 'psnr'):.1f} dB "
                   f"({num(m, 'fixed'):.0f} of them header); {'; '.join(parts)}.")
    text = f"**{name}** ({models[0]['images']} images):\n" + "\n".join(out)
    grids = {}
    for m in models:   # one point per grid: its cheapest prior
        grids.setdefault(m["grid"], m)
    if len(grids) > 1 and "own size" not in grids:
        by_size = sorted(grids.values(), key=cells)
        steps = []
        for a, b in zip(by_size, by_size[1:], strict=False):
            step = (f"{grid_name(a)} → {grid_name(b)} adds {num(b, 'bytes') - num(a, 'bytes'):.1f} bytes for "
                    f"{num(b, 'psnr') - num(a, 'psnr'):+.1f} dB")
            wa, wb = bytes_at(webp, num(a, "psnr")), bytes_at(webp, num(b, "psnr"))
            if wa is not None and wb is not None:
                step += f" (WebP, for the same two PSNRs: {wb - wa:+,.0f} bytes)"
            steps.append(step)
        text += "\n\nThe downsampling factor in bytes: " + "; ".join(steps) + "."
    top = max((num(r, "psnr") for r in classic), default=None)
    best = max(num(m, "psnr") for m in models)
    if top is not None and top > best:
        text += (f"\n\nAbove {best:.1f} dB only the classic codecs go (up to {top:.1f} dB at quality "
                 f"{max(num(r, 'quality') for r in classic):.0f}): a VQ-VAE's PSNR is capped by its decoder, "
                 "however many bytes one would give it.")
    return text
