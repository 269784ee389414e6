"""Rebuild every shipped model from scratch, one training after another, and what the README and the app show.

    python benchmarks/train_models.py                 # train what is missing or stale, evaluate, benchmark
    python benchmarks/train_models.py mnist mnist_4x4 # only these models
    python benchmarks/train_models.py --list          # the recipes, and which checkpoints are current
    python benchmarks/train_models.py --force mnist   # retrain even though the checkpoint is current
    python $(python benchmarks/train_models.py --print-command mnist)   # one recipe by hand (or elsewhere)

Each model is a recipe: train.py arguments whose budgets are epochs, so the same command gives the same model
on any machine, busy or quiet, CPU or GPU. A checkpoint whose config["train"]["commands"] is exactly its
recipe's command line is current and skipped. Otherwise train.py runs with --resume: an interrupted training
continues from its last saved step (a run folder left by another command is cleared first). Ctrl-C stops the
current training with its state saved; run the script again to go on.

Then every rebuilt model is evaluated on its full test split (with the MNIST classifier: the share of 500
class-conditional samples read as their class), its sample sheet and curves go into docs/, the trade-off of
the current checkpoints is measured (benchmarks/tradeoff.py) and a summary table of every recipe is printed
and written to benchmarks/results/models.md.
"""

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vq_explorer.checkpoint import raw_metadata  # noqa: E402

# One recipe per shipped checkpoint: name → (dataset, train.py arguments). The MNIST models differ only in the
# downsampling factor and train for the same epochs, so the trade-off between them is fair.
MNIST = "--num-codes 512 --vqvae-epochs 20 --prior-epochs 8 --prior-lr 1.5e-3"
RECIPES = {
    "mnist": ("mnist", f"--downsample 4 {MNIST}"),
    "mnist_4x4": ("mnist", f"--downsample 8 {MNIST}"),
    "mnist_14x14": ("mnist", f"--downsample 2 {MNIST}"),
    # CIFAR-10 needs a wider trunk and a larger prior than MNIST: 128 channels, 64-dimensional codes, a
    # 96-channel × 12-layer prior, and more epochs (50,000 images of far more detail).
    "cifar10": ("cifar10", "--downsample 4 --num-codes 512 --channels 128 --code-dim 64 --vqvae-epochs 60 "
                           "--prior-epochs 30 --prior-channels 96 --prior-layers 12 --prior-lr 1e-3"),
    # The other prior family over the very same VQ-VAE (identical codes), for the same 8 epochs: a GPT-style
    # Transformer of about the PixelCNN's size (0.93 M against 0.99 M parameters).
    "mnist_transformer": ("mnist", "--vqvae-from checkpoints/mnist.safetensors --prior transformer "
                                   "--prior-dim 128 --prior-layers 4 --prior-heads 4 --prior-epochs 8 "
                                   "--prior-lr 1e-3"),
    "mnist_maskgit": ("mnist", "--vqvae-from checkpoints/mnist.safetensors --prior maskgit --prior-dim 128 "
                               "--prior-layers 4 --prior-heads 4 --prior-epochs 10 --prior-lr 1e-3"),
}
CLASSIFIERS = {"mnist": ROOT / "tests" / "fixtures" / "mnist_classifier.safetensors"}


@dataclass
class Build:
    """One recipe and where its files go."""
    name: str
    dataset: str
    args: str
    checkpoints: Path = ROOT / "checkpoints"
    runs: Path = ROOT / "runs"

    @property
    def path(self) -> Path:
        return self.checkpoints / f"{self.name}.safetensors"

    @property
    def run(self) -> Path:
        return self.runs / self.name

    def command(self) -> list[str]:
        """The exact command line, as train.py records it in the state files and the checkpoint."""
        cmd = ["python", "train.py", "--dataset", self.dataset, "--name", self.name, *shlex.split(self.args)]
        if self.runs != ROOT / "runs":
            cmd += ["--runs", str(self.runs)]
        if self.checkpoints != ROOT / "checkpoints":
            cmd += ["--out", str(self.path)]
        return [*cmd, "--resume"]

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
                source = json.loads(raw_metadata(ROOT / args[args.index("--vqvae-from") + 1])["config"])
                commands |= set(source.get("train", {}).get("commands", []))
            except Exception:
                pass
        return sorted(commands)

    def is_current(self) -> bool:
        """The checkpoint records exactly this recipe's command lines (hence its epochs), and where it ran."""
        config, _ = self.recorded() or ({}, {})
        train = config.get("train", {})
        return train.get("commands") == self.expected_commands() and bool(train.get("machine"))


def builds(names, checkpoints: Path, runs: Path) -> list[Build]:
    return [Build(n, *RECIPES[n], checkpoints=checkpoints, runs=runs) for n in names]


def clear_stale_run(b: Build):
    """Training states another command made would be resumed (or skipped as done) as if they were this
    recipe's: clear the run folder unless every state in it was made by this very command."""
    made_by = set()
    for state in (b.run / "vqvae.safetensors", b.run / "prior.safetensors"):
        if state.exists():
            try:
                made_by.add(json.loads(raw_metadata(state)["info"]).get("command"))
            except Exception:
                made_by.add(None)
    if made_by - {shlex.join(b.command())}:
        print(f"[{b.name}] {b.run} holds states made by another command ({', '.join(map(str, made_by))}); "
              "starting from scratch", flush=True)
        shutil.rmtree(b.run)


def train(b: Build, force: bool):
    if force and b.run.exists():
        shutil.rmtree(b.run)
    clear_stale_run(b)
    print(f"[{b.name}] {shlex.join(b.command())}", flush=True)
    child = subprocess.Popen([sys.executable, *b.command()[1:]], cwd=ROOT)
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
    cmd = [sys.executable, "-m", "vq_explorer.evaluate", str(b.path), "--dataset", b.dataset,
           "--sheet", str(docs / f"{b.name}_samples.png")]
    if b.dataset in CLASSIFIERS:
        cmd += ["--classifier", str(CLASSIFIERS[b.dataset])]
    subprocess.run(cmd, cwd=ROOT, check=True)
    if (b.run / "curves.png").exists():
        shutil.copyfile(b.run / "curves.png", docs / f"{b.name}_curves.png")


def _num(value, fmt: str) -> str:
    return "?" if value is None else format(value, fmt)


def summary(bs: list[Build]) -> str:
    head = ("| model | grid | K | epochs VQ-VAE / prior | minutes: vqvae + encode + prior + export = total | "
            "MSE | PSNR dB | perplexity | bits/image | samples read as their class | trained on |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for b in bs:
        found = b.recorded()
        if found is None:
            lines.append(f"| {b.name} | not built |" + " |" * (head.count("|") - 3))
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
            f"{' + '.join(_num(x, '.1f') for x in minutes)} = {total:.1f} | {_num(m.get('mse'), '.5f')} | "
            f"{_num(m.get('psnr'), '.1f')} | {_num(m.get('perplexity'), '.0f')} | "
            f"{_num(m.get('bits_per_image'), '.1f')} | {acc} | {t.get('machine', '?')} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help=f"recipes to build (default: all of {', '.join(RECIPES)})")
    ap.add_argument("--force", action="store_true", help="retrain from scratch even where a checkpoint is current")
    ap.add_argument("--list", action="store_true", help="print the recipes and whether each is current")
    ap.add_argument("--print-command", action="store_true",
                    help="print the train.py arguments of each chosen recipe, to run it by hand or elsewhere")
    ap.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs", help="parent of the run folders")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs", help="where sample sheets and curves go")
    ap.add_argument("--no-tradeoff", action="store_true", help="skip the trade-off benchmark")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.models) - set(RECIPES))
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; the recipes are {', '.join(RECIPES)}")
    everything = builds(RECIPES, args.checkpoints.resolve(), args.runs.resolve())
    chosen = [b for b in everything if not args.models or b.name in args.models]
    if args.print_command:
        for b in chosen:
            print(shlex.join(b.command()[1:]))
        return
    if args.list:
        for b in chosen:
            print(f"{b.name:14s} {'current ' if b.is_current() else 'to build'}  {shlex.join(b.command())}")
        return

    for b in chosen:  # one after another: two trainings at once would only share the same cores
        if b.is_current() and not args.force:
            print(f"[{b.name}] {b.path} records this recipe; skipped (--force retrains it)")
        else:
            train(b, args.force)
        found = b.recorded()
        if found is None:
            sys.exit(f"[{b.name}] {b.path} is missing or unreadable after training")
        if "eval_seconds" not in found[1]:  # not evaluated since train.py exported it
            evaluate(b, args.docs)
    # The trade-off holds only checkpoints their recipe made: rows at other budgets would not be fair.
    current = [str(b.path) for b in everything if b.is_current()]
    if current and not args.no_tradeoff:
        subprocess.run([sys.executable, "benchmarks/tradeoff.py", *current], cwd=ROOT, check=True)
    table = summary(everything)
    if args.checkpoints.resolve() == ROOT / "checkpoints":
        (ROOT / "benchmarks" / "results" / "models.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
