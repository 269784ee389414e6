"""The shape of the code a newcomer reads: the training command short enough to follow in one sitting with one
visible loop, one optimiser step for every training, and a package that finds no file by climbing out of itself."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vq_explorer"


def test_the_training_command_is_short_and_its_loop_one_visible_while():
    source = (PACKAGE / "commands" / "train.py").read_text()
    assert len(source.splitlines()) <= 450
    tree = ast.parse(source)
    (stage,) = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "train_stage"]
    loops = [n for n in ast.walk(stage) if isinstance(n, ast.While)]
    assert len(loops) == 1


def test_one_optimiser_step_serves_train_py_the_lab_and_the_pace():
    """`opt.step()` is written once for the VQ-VAEs and priors: in models/training.py's take_step, which train.py,
    the lab and the rebuild's timing call (the classifier that reads samples has its own trainer)."""
    steps = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if p.name != "classifier.py"
             for _ in re.finditer(r"\bopt\.step\(\)", p.read_text())]
    assert steps == ["models/training.py"]
    assert "training.take_step(" in (PACKAGE / "commands" / "train.py").read_text()
    assert "take_step(" in (PACKAGE / "models" / "training.py").read_text().split("def steps(")[1]


def test_the_package_never_finds_files_by_climbing_out_of_itself():
    """An installed package has no clone around it: places come from the command line or the current folder."""
    climbing = [p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py") if "parents[" in p.read_text()]
    assert not climbing
