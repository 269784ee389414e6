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
