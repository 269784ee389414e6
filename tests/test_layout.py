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


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_uses_another_modules_private_names():
    """A name with a leading underscore is its module's own: another module imports it (`from .x import _name`)
    or reads it (`thing._name`) only where the name is not defined in the reader's module at all, i.e. never."""
    borrowed = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        own = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _private(node.value):
                own.add(node.value)                                       # register_buffer("_levels", ...)
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or str(node.module).startswith("vq_explorer")):
                borrowed += [f"{where}: from {node.module} import {a.name}"
                             for a in node.names if _private(a.name)]
            elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
                if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    borrowed.append(f"{where}: {ast.unparse(node)}")
    assert not borrowed


BARE = {")", "]", "}", "),", "],", "})", "else:", "try:"}   # lines that say nothing on their own


def test_no_block_of_six_lines_is_written_twice():
    """Logic lives in one place: no run of six code lines (stripped; blank lines, comments, imports and lone
    closing brackets aside) appears twice in the package, its tests, benchmarks or tools, within a file or across
    files."""
    def code_lines(path):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            text = line.strip()
            if text and not text.startswith(("#", "import ", "from ")) and text not in BARE:
                yield number, text
    folders = ("vq_explorer", "tests", "benchmarks", "tools")
    files = [p for folder in folders for p in (ROOT / folder).rglob("*.py")]
    seen, copies = {}, []
    for path in sorted(files) + [ROOT / "app.py", ROOT / "train.py"]:
        lines = list(code_lines(path))
        for i in range(len(lines) - 5):
            run = tuple(text for _, text in lines[i:i + 6])
            if sum(len(t) for t in run) < 120:        # six short lines (closing brackets, returns) say too little
                continue
            where = f"{path.relative_to(ROOT)}:{lines[i][0]}"
            if run in seen:
                copies.append(f"{where} repeats {seen[run]}")
            seen.setdefault(run, where)
    assert not copies, "\n".join(copies[:10])


def test_the_service_is_reached_through_its_surface():
    """Outside the service layer, code imports `vq_explorer.service` (or names from it), never one of its
    modules by path: its `__init__` is its whole surface. The package's own `__init__`, the public API, names
    where each of its names lives."""
    from vq_explorer import service
    by_path, unknown = [], []
    for path in PACKAGE.rglob("*.py"):
        where = path.relative_to(PACKAGE).as_posix()
        if where.startswith("service/") or where == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module.removeprefix("vq_explorer.")
                if module.startswith("service."):
                    by_path.append(f"{where}: from {node.module}")
                elif module == "service":
                    unknown += [f"{where}: {a.name}" for a in node.names if a.name not in service.__all__]
    assert not by_path and not unknown, by_path + unknown
