"""What tools/deploy_space.py would upload to a Space (the file list and its requirements), never the network."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def deploy():
    spec = importlib.util.spec_from_file_location("deploy_space", ROOT / "tools" / "deploy_space.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_space_gets_what_the_app_reads_and_nothing_else(deploy):
    files = deploy.space_files()
    assert {"app.py", "README.md", "vq_explorer/ui/painter.js", "vq_explorer/service/lab_data/mnist.npz",
            "vq_explorer/service/lab_data/recorded_race.safetensors",
            "vq_explorer/service/grids.py", "vq_explorer/models/priors/pixelcnn.py",
            "checkpoints/mnist.safetensors",
            "benchmarks/results/tradeoff.csv"} <= set(files)
    assert not [f for f in files if f.startswith(("tests/", "runs/", "docs/", "tools/", "checkpoints/partial/"))
                or f.endswith(".pyc") or (f.startswith("benchmarks/") and f.endswith(".py"))]
    shipped = {str(p.relative_to(ROOT)) for p in (ROOT / "checkpoints").glob("*.safetensors")}
    assert shipped <= set(files)


def test_the_spaces_requirements_take_torch_from_the_cpu_index(deploy):
    req = deploy.space_requirements().splitlines()
    assert req[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert "torch==2.14.1+cpu" in req and "torchvision==0.29.1+cpu" in req
    ours = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if "torch" not in line]
    assert all(line in req for line in ours)      # every other pin as it is
    assert "diffusers>=0.30" in req                 # a Space can open Hub tokenizers (VQE_OPEN)


def test_a_dry_run_stages_the_files_and_uploads_nothing(deploy, capsys, monkeypatch):
    import huggingface_hub

    def no_network(*a, **k):
        raise AssertionError("a dry run must not reach the Hub")
    monkeypatch.setattr(huggingface_hub, "HfApi", no_network)
    deploy.main(["someone/vq-explorer", "--dry-run"])
    out = capsys.readouterr().out
    assert "requirements.txt" in out.splitlines() and "checkpoints/mnist.safetensors" in out.splitlines()
    assert "https://huggingface.co/spaces/someone/vq-explorer" in out


# The third-party packages the package imports. Each is in requirements.txt (so every feature the README names
# works after its set-up command, `pip install -r requirements.txt && python app.py`, and on the Space), or is an
# extra that the README introduces beside its feature with its own install command, or is used where present only.
DISTRIBUTION = {"PIL": "pillow"}
EXTRA_IN_README = {"diffusers": 'pip install ".[diffusers]"', "huggingface_hub": 'pip install ".[diffusers]"',
                   "transformers": 'pip install ".[transformers]"'}
WHERE_PRESENT = {"matplotlib"}        # the training curves' static PNG beside the HTML, skipped without it


def _imported_packages() -> set[str]:
    import ast
    import sys
    found = set()
    for path in (ROOT / "vq_explorer").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            found |= {n.split(".")[0] for n in names}
    return {n for n in found if n not in sys.stdlib_module_names and n != "vq_explorer"}


def _names(lines) -> set[str]:
    import re
    return {re.match(r"\s*([A-Za-z0-9_.-]*)", line).group(1).lower().replace("_", "-") for line in lines} - {""}


def test_every_feature_the_readme_names_is_in_the_default_install_and_on_the_space(deploy):
    runtime = _names(line for line in (ROOT / "requirements.txt").read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    space = _names(line for line in deploy.space_requirements().splitlines() if not line.startswith(("#", "--")))
    readme = (ROOT / "README.md").read_text()
    imported = _imported_packages()
    assert {"constriction", "gradio", "torch", "diffusers"} <= imported      # the scan sees the lazy imports
    for module in sorted(imported - WHERE_PRESENT):
        dist = DISTRIBUTION.get(module, module).lower().replace("_", "-")
        assert dist in space, f"{dist} is missing from the Space's requirements"
        if module in EXTRA_IN_README:
            assert EXTRA_IN_README[module] in readme, f"the README must introduce {module} with its install"
        else:
            assert dist in runtime, f"{module} is imported but not in requirements.txt"
    assert "constriction" in runtime                   # Reconstruct's "Compress it" and `.vqe` uploads


def test_every_install_message_works_from_a_clone_and_from_the_package():
    """A message that says `pip install "vq-explorer[...]"` looks the name up on the package index from a clone."""
    for path in (ROOT / "vq_explorer").rglob("*.py"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            said = line + lines[i + 1] if "pip install" in line and i + 1 < len(lines) else ""
            assert "vq-explorer[" not in said and '".[' not in said, (path.name, said)
