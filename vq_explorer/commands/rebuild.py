"""Rebuild every shipped model from scratch, one training after another, and what the README and the app show.
Run it in a clone of the repository, or name one with --root (it writes checkpoints/, docs/ and
benchmarks/results/ there):

    python -m vq_explorer.commands.rebuild            # train what is missing or stale, evaluate, benchmark
    python -m vq_explorer.commands.rebuild --budget-minutes 90   # ... for 90 minutes, then save, say what is left
    python -m vq_explorer.commands.rebuild mnist mnist_4x4       # only these models
    python -m vq_explorer.commands.rebuild --list     # the recipes: current, partial, changed or to build
    python -m vq_explorer.commands.rebuild --left     # what is left to train, and about how long it takes here
    python -m vq_explorer.commands.rebuild --force mnist         # retrain even though the checkpoint is current
    python $(python -m vq_explorer.commands.rebuild --print-command mnist)   # one recipe by hand, or elsewhere

(`vq-explorer-rebuild` is the same command, where the package is installed from the clone.)

Each model is a recipe (vq_explorer/commands/recipes.py): train.py arguments whose budgets are epochs, so the same
command gives the same model on any machine, busy or quiet, CPU or GPU. A checkpoint whose
config["train"]["commands"] are its recipe's command line is current and skipped. Otherwise train.py runs with
--resume: a training continues from its last saved step (a run folder left by another command is cleared first).

A rebuild can be spread over many sittings, on one machine or several. The resumable state (weights, optimiser,
random generators, nothing else) lives in checkpoints/partial/<name>/, which is committed with the repository;
--budget-minutes (or Ctrl-C) pauses the training in progress there, and the next run, in a fresh clone on any
machine, continues it exactly: a paused and resumed recipe ends with the same weights as an uninterrupted one
(bit for bit on a CPU in fp32). The folder is removed once its checkpoint is exported and evaluated.

Then every rebuilt model is evaluated on its full test split (with its dataset's classifier, where one exists:
the share of 500 class-conditional samples read as their class), its sample sheet and curves go into docs/, the
trade-off of the current checkpoints is measured (benchmarks/tradeoff.py) and a summary table of every recipe is
printed and written to benchmarks/results/models.md.
"""

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from vq_explorer.commands.recipes import DATASET_SHAPES, RECIPES, recipe_args
from vq_explorer.models import training
from vq_explorer.models.config import FAMILY_NAMES
from vq_explorer.storage.checkpoint import raw_metadata

# Flags that say where files go or when a sitting ends, not what model is made: left out when commands compare.
_PLACE_FLAGS = {"--runs": 1, "--out": 1, "--stop-after-minutes": 1, "--resume": 0}


def recipe_key(command: str) -> str:
    """A command line without the flags that only place files or end a sitting."""
    out, args, i = [], shlex.split(command), 0
    while i < len(args):
        if args[i] in _PLACE_FLAGS:
            i += 1 + _PLACE_FLAGS[args[i]]
            continue
        out.append(args[i])
        i += 1
    return shlex.join(out)

# Each dataset's classifier, in the clone (the evaluation runs there): what reads the samples' classes.
CLASSIFIERS = {name: Path("tests") / "fixtures" / f"{name}_classifier.safetensors"
               for name in ("mnist", "fashion_mnist", "cifar10")}


@dataclass
class Build:
    """One recipe and where its files go. `root` is the clone whose train.py runs it (recipes name its files,
    such as checkpoints/mnist.safetensors); the run folders default to its checkpoints/partial/."""
    name: str
    dataset: str
    args: str
    checkpoints: Path
    runs: Path | None = None
    root: Path = field(default_factory=Path.cwd)

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.runs = self.runs or self.root / "checkpoints" / "partial"

    @property
    def path(self) -> Path:
        return self.checkpoints / f"{self.name}.safetensors"

    @property
    def run(self) -> Path:
        return self.runs / self.name

    def command(self) -> list[str]:
        """The exact command line, as train.py records it in the state files and the checkpoint."""
        cmd = ["python", "train.py", "--dataset", self.dataset, "--name", self.name, *shlex.split(self.args)]
        runs = self.runs.relative_to(self.root) if self.runs.is_relative_to(self.root) else self.runs
        cmd += ["--runs", str(runs)]
        if self.checkpoints != self.root / "checkpoints":
            cmd += ["--out", str(self.path)]
        return [*cmd, "--resume"]

    def stage_info(self, stage: str) -> dict:
        """The record of a stage's saved state in the run folder ({} where there is none that reads)."""
        try:
            return json.loads(raw_metadata(self.run / f"{stage}.safetensors")["info"])
        except Exception:
            return {}

    def recorded(self) -> tuple[dict, dict] | None:
        """(config, metrics) of the checkpoint, or None where there is none that loads."""
        try:
            meta = raw_metadata(self.path)
            return json.loads(meta["config"]), json.loads(meta.get("metrics") or "{}")
        except Exception:
            return None

    def expected_commands(self) -> list[str]:
        """This recipe's command line, and where it takes its VQ-VAE from another checkpoint, the commands
        that made that one."""
        args = shlex.split(self.args)
        commands = {shlex.join(self.command())}
        if "--vqvae-from" in args:
            try:
                source = json.loads(raw_metadata(self.root / args[args.index("--vqvae-from") + 1])["config"])
                commands |= set(source.get("train", {}).get("commands", []))
            except Exception:
                pass
        return sorted(commands)

    def is_current(self) -> bool:
        """The checkpoint records this recipe's command lines (hence its epochs), and where it ran."""
        config, _ = self.recorded() or ({}, {})
        train = config.get("train", {})
        recorded = sorted(map(recipe_key, train.get("commands") or []))
        return recorded == sorted(map(recipe_key, self.expected_commands())) and bool(train.get("machine"))


def builds(names, checkpoints: Path, runs: Path | None = None, root: Path | None = None) -> list[Build]:
    """The named recipes, in the clone `root` (default: the current directory)."""
    return [Build(n, *RECIPES[n], checkpoints=checkpoints, runs=runs, root=root or Path.cwd()) for n in names]


def states_made_by(b: Build) -> set:
    """The commands that made the training states in the recipe's run folder (None for one that does not read).
    A VQ-VAE state taken from the very checkpoint the recipe's --vqvae-from names was made by no command, and
    counts for none: train.py checks it against that file's hash itself, so a paused prior over it resumes."""
    args = shlex.split(b.args)
    source = args[args.index("--vqvae-from") + 1] if "--vqvae-from" in args else None
    made_by = set()
    for state in (b.run / "vqvae.safetensors", b.run / "prior.safetensors"):
        if state.exists():
            try:
                info = json.loads(raw_metadata(state)["info"])
            except Exception:
                made_by.add(None)
                continue
            if "source_sha" not in info:
                made_by.add(info.get("command"))
            elif info.get("source") != source:
                made_by.add(f"--vqvae-from {info.get('source')}")
    return made_by


def rebuild_in_progress(b: Build) -> bool:
    """The run folder holds a paused training of exactly this recipe: a changed recipe's rebuild, spread over
    sittings, while the checkpoint an earlier recipe made keeps shipping until it is replaced."""
    keys = {recipe_key(c) if c else None for c in states_made_by(b)}
    return keys == {recipe_key(shlex.join(b.command()))}


def clear_stale_run(b: Build):
    """Training states another command made would be resumed (or skipped as done) as if they were this
    recipe's: clear the run folder unless every state in it was made by this very command."""
    made_by = states_made_by(b)
    if made_by and not rebuild_in_progress(b):
        print(f"[{b.name}] {b.run} holds states made by another command ({', '.join(map(str, made_by))}); "
              "starting from scratch", flush=True)
        shutil.rmtree(b.run)


def train(b: Build, force: bool, minutes_left: float | None = None):
    """Train the recipe, or until `minutes_left` are spent (train.py then pauses with its state saved)."""
    if force and b.run.exists():
        shutil.rmtree(b.run)
    clear_stale_run(b)
    print(f"[{b.name}] {shlex.join(b.command())}", flush=True)
    budget = [] if minutes_left is None else ["--stop-after-minutes", f"{minutes_left:.2f}"]
    child = subprocess.Popen([sys.executable, *b.command()[1:], *budget], cwd=b.root)
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:  # Ctrl-C reaches train.py too: let it save its state and exit by itself
            continue
    if code:
        sys.exit(f"[{b.name}] train.py exited with {code}; run this script again to resume")


def evaluate(b: Build, docs: Path):
    """Full-split figures and sample accuracy into the checkpoint; sample sheet and curves into docs/."""
    docs.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "vq_explorer.commands.evaluate", str(b.path), "--dataset", b.dataset,
           "--sheet", str(docs / f"{b.name}_samples.png")]
    if b.dataset in CLASSIFIERS:
        cmd += ["--classifier", str(CLASSIFIERS[b.dataset])]
    subprocess.run(cmd, cwd=b.root, check=True)
    if (b.run / "curves.png").exists():
        shutil.copyfile(b.run / "curves.png", docs / f"{b.name}_curves.png")


def minutes_left(b: Build) -> tuple[float | None, str]:
    """About how many minutes of training the recipe still needs on this machine, and which stages: from the
    pace of a stage under way, or by timing a few steps of a stage not begun. None where it cannot tell."""
    import torch

    from vq_explorer.commands.pace import seconds_per_step
    args = recipe_args(b.dataset, b.args)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if b.is_current():
        return 0.0, "done"
    total, parts = 0.0, []
    for stage in ("vqvae", "prior"):
        if stage == "vqvae" and args.vqvae_from:
            continue
        info = b.stage_info(stage)
        if info.get("done"):
            continue
        epochs = getattr(args, f"{stage}_epochs")
        if info.get("step"):
            steps_per_epoch = info["step"] / info["epoch"]
            pace = info["elapsed"] / info["step"]
        elif b.dataset in DATASET_SHAPES and epochs:
            steps_per_epoch = DATASET_SHAPES[b.dataset][0] // args.batch_size
            pace = seconds_per_step(b.dataset, args, stage, training.resolve_precision(args.precision, device),
                                    device)
        else:
            return None, "unknown (not a standard dataset)"
        steps = max(0.0, epochs * steps_per_epoch - info.get("step", 0))
        total += steps * pace / 60
        parts.append(f"{stage} {info.get('epoch', 0):.1f} of {epochs:g} epochs done")
    return total, ", ".join(parts) or "export"


def progress(b: Build) -> str:
    """How far a partial rebuild has gone ("vqvae 12.0 of 50 epochs"), from its saved states; "" if none."""
    args = recipe_args(b.dataset, b.args)
    parts = []
    for stage in ("vqvae", "prior"):
        info = b.stage_info(stage)
        if info and not (stage == "vqvae" and args.vqvae_from):
            parts.append(f"{stage} {info['epoch']:.1f} of {getattr(args, f'{stage}_epochs'):g} epochs")
    return ", ".join(parts)


def report_left(bs: list[Build]):
    left = [(b, *minutes_left(b)) for b in bs if not b.is_current()]
    if not left:
        print("every chosen recipe is current")
        return
    print("left to train (estimates for this machine; evaluation and export add a few minutes each):")
    for b, minutes, stages in left:
        print(f"  {b.name:18s} {'?' if minutes is None else f'~{minutes:.0f} min':>9s}  ({stages})")
    known = [m for _, m, _ in left if m is not None]
    print(f"  {'in all':18s} {f'~{sum(known):.0f} min':>9s}")


def _num(value, fmt: str) -> str:
    return "?" if value is None else format(value, fmt)


def shelf(bs: list[Build]) -> str:
    """The shipped models in a few columns, for the README's front door (models.md has the rest)."""
    lines = ["| model | images | grid × codes | prior | test PSNR | samples read as their class |",
             "|---|---|---|---|---|---|"]
    for b in bs:
        found = b.recorded()
        if found is None or not b.is_current():
            continue
        c, m = found
        prior = (c.get("prior") or {}).get("type", "pixelcnn")
        acc = f"{m['sample_accuracy']:.1%}" if "sample_accuracy" in m else "—"
        lines.append(f"| `{b.name}` | {b.dataset} | {c['grid'][0]}×{c['grid'][1]} × {c['num_codes']} | "
                     f"{FAMILY_NAMES.get(prior, prior)} | {_num(m.get('psnr'), '.1f')} dB | {acc} |")
    return "\n".join(lines)


def summary(bs: list[Build]) -> str:
    head = ("| model | grid | K | epochs VQ-VAE / prior | minutes: vqvae + encode + prior + export = total | "
            "precision | MSE | PSNR dB | perplexity | bits/image | samples read as their class | trained on |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for b in bs:
        found = b.recorded()
        if found is None:
            state = progress(b)
            lines.append(f"| {b.name} | {'in progress: ' + state if state else 'not built'} |"
                         + " |" * (head.count("|") - 3))
            continue
        c, m = found
        t = c.get("train", {})
        minutes = [t.get(k) for k in ("vqvae_minutes", "encode_minutes", "prior_minutes", "export_minutes")]
        total = sum(x for x in minutes if x is not None)
        acc = (f"{m['sample_accuracy']:.1%} of {m.get('sample_accuracy_n', '?')}" if "sample_accuracy" in m
               else "—")
        lines.append(
            f"| {b.name}{'' if b.is_current() else ' (not this recipe)'} | {c['grid'][0]}×{c['grid'][1]} | "
            f"{c['num_codes']} | {t.get('vqvae_epochs', '?')} / {t.get('prior_epochs', '?')} | "
            f"{' + '.join(_num(x, '.1f') for x in minutes)} = {total:.1f} | "
            f"{t.get('vqvae_precision', 'fp32')} / {t.get('prior_precision', 'fp32')} | "
            f"{_num(m.get('mse'), '.5f')} | "
            f"{_num(m.get('psnr'), '.1f')} | {_num(m.get('perplexity'), '.0f')} | "
            f"{_num(m.get('bits_per_image'), '.1f')} | {acc} | {t.get('machine', '?')} |")
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help=f"recipes to build (default: all of {', '.join(RECIPES)})")
    ap.add_argument("--force", action="store_true", help="retrain from scratch even where a checkpoint is current")
    ap.add_argument("--list", action="store_true", help="print the recipes and whether each is current")
    ap.add_argument("--left", action="store_true",
                    help="print what is left to train and about how long it takes on this machine")
    ap.add_argument("--budget-minutes", type=float, default=None,
                    help="train for about this long, then pause the training in progress (its state saved in "
                         "the runs folder) and say what is left; run again, here or in a fresh clone, to go on")
    ap.add_argument("--print-command", action="store_true",
                    help="print the train.py arguments of each chosen recipe, to run it by hand or elsewhere")
    ap.add_argument("--root", type=Path, default=Path.cwd(),
                    help="the clone of the repository to rebuild in (default: the current directory)")
    ap.add_argument("--checkpoints", type=Path, default=None, help="default: ROOT/checkpoints")
    ap.add_argument("--runs", type=Path, default=None,
                    help="parent of the run folders: the resumable state (default ROOT/checkpoints/partial, "
                         "committed)")
    ap.add_argument("--docs", type=Path, default=None, help="where sample sheets and curves go (ROOT/docs)")
    ap.add_argument("--no-tradeoff", action="store_true", help="skip the trade-off benchmark")
    args = ap.parse_args(argv)
    args.root = args.root.resolve()
    if not (args.root / "train.py").is_file():
        ap.error(f"{args.root} is not a clone of the repository (no train.py): the rebuild writes the shipped "
                 "checkpoints, docs and results of a clone; run it in one, or name one with --root")
    args.checkpoints = args.checkpoints or args.root / "checkpoints"
    args.runs = args.runs or args.root / "checkpoints" / "partial"
    args.docs = args.docs or args.root / "docs"
    unknown = sorted(set(args.models) - set(RECIPES))
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; the recipes are {', '.join(RECIPES)}")
    return args


def build(chosen: list[Build], args) -> bool:
    """Train, evaluate and tidy each chosen recipe in turn; False where the budget ran out first."""
    deadline = None if args.budget_minutes is None else time.time() + 60 * args.budget_minutes
    for b in chosen:  # one after another: two trainings at once would only share the same cores
        if b.is_current() and not args.force:
            print(f"[{b.name}] {b.path} records this recipe; skipped (--force retrains it)")
        else:
            remaining = None if deadline is None else (deadline - time.time()) / 60
            if remaining is not None and remaining <= 0:
                return False
            train(b, args.force, remaining)
            if not b.is_current():   # paused by the budget, its state saved
                return False
        found = b.recorded()
        if found is None:
            sys.exit(f"[{b.name}] {b.path} is missing or unreadable after training")
        if "eval_seconds" not in found[1]:  # not evaluated since train.py exported it
            evaluate(b, args.docs)
        if b.run.exists():   # exported and evaluated: the resumable state has served
            shutil.rmtree(b.run)
    return True


def main(argv=None):
    args = parse_args(argv)
    everything = builds(RECIPES, args.checkpoints.resolve(), args.runs.resolve(), args.root)
    chosen = [b for b in everything if not args.models or b.name in args.models]
    if args.print_command:
        for b in chosen:
            print(shlex.join(b.command()[1:]))
        return
    if args.list:
        for b in chosen:
            current = b.is_current()
            state = ("current " if current else "partial " if b.run.exists()
                     else "changed " if b.path.exists() else "to build")
            print(f"{b.name:18s} {state}  {shlex.join(b.command())}")
            if b.path.exists() and not current and rebuild_in_progress(b):
                print(f"{'':18s} (until it is done, the checkpoint an earlier recipe made ships: {progress(b)})")
        return
    if args.left:
        report_left(chosen)
        return
    if not build(chosen, args):
        spent = "paused" if args.budget_minutes is None else f"budget of {args.budget_minutes:g} minutes spent"
        print(f"{spent}; run the same command again to go on (the state is in {args.runs})")
        report_left(chosen)
        return
    # The trade-off holds only checkpoints their recipe made: rows at other budgets would not be fair.
    current = [str(b.path) for b in everything if b.is_current()]
    if current and not args.no_tradeoff:
        subprocess.run([sys.executable, "benchmarks/tradeoff.py", *current], cwd=args.root, check=True)
    table = summary(everything)
    if args.checkpoints.resolve() == args.root / "checkpoints":
        (args.root / "benchmarks" / "results" / "models.md").write_text(table + "\n")
        (args.root / "benchmarks" / "results" / "models_short.md").write_text(shelf(everything) + "\n")
    print(table)


if __name__ == "__main__":
    main()
