"""The package as a user installs it: the wheel holds every module, the files read at run time and the runtime
pins of requirements.txt; installed into a fresh venv (without its dependencies, which it takes from this
environment so torch is not installed twice) it imports, builds the demo and serves from outside the
repository."""

import os
import shutil
import site
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from conftest import make_tiny_model

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of what packaging reads (the build leaves nothing in the repository)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "vq_explorer", src / "vq_explorer", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src),
                    "-w", str(out)], check=True, capture_output=True)
    (whl,) = out.glob("vq_explorer-*.whl")
    return whl


def test_the_wheel_holds_every_module_its_data_and_its_dependencies(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "vq_explorer").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    lab_data = ROOT / "vq_explorer" / "service" / "lab_data"
    data = {str(p.relative_to(ROOT)) for p in lab_data.iterdir() if p.is_file()}
    assert {"vq_explorer/ui/painter.js", "vq_explorer/service/lab_data/mnist.npz",
            "vq_explorer/service/lab_data/recorded_race.safetensors"} <= names and data <= names
    info = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = zipfile.ZipFile(wheel).read(info).decode()
    pins = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    declared = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    from packaging.requirements import Requirement

    def parsed(lines):
        return {(r.name, r.specifier) for r in map(Requirement, lines)}
    extras = [r for r in map(Requirement, declared) if r.marker is not None]
    assert parsed(pins) == parsed([d for d in declared if Requirement(d).marker is None])
    assert [(r.name, str(r.marker)) for r in extras] == [("constriction", 'extra == "codec"'),   # the codec
                                                         ("diffusers", 'extra == "diffusers"'),  # tokenizers
                                                         ("huggingface_hub", 'extra == "diffusers"'),
                                                         ("transformers", 'extra == "transformers"'),
                                                         ("huggingface_hub", 'extra == "transformers"')]
    import tomllib
    description = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["description"]
    assert f"Summary: {description}" in meta and "\n# vq-explorer\n" in meta   # the README is the long one
    entry = zipfile.ZipFile(wheel).read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "vq-explorer = vq_explorer.commands.serve:main" in entry
    assert "vq-explorer-train = vq_explorer.commands.train:main" in entry
    assert "vq-explorer-codec = vq_explorer.commands.codec:main" in entry


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A new venv with the wheel installed and this environment's packages visible (a .pth file)."""
    env = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    py = env / "bin" / "python"
    target = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            check=True, capture_output=True, text=True).stdout.strip()
    Path(target, "dev-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    out = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", str(wheel)], cwd=env, env=_clean_env(),
                         capture_output=True, text=True)
    assert out.returncode == 0 and "Successfully installed vq-explorer" in out.stdout, out.stdout + out.stderr
    return env


def _clean_env() -> dict:
    """No PYTHONPATH, no checkpoint folder from this test run: the installed package alone."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VQE_CHECKPOINTS")}


def test_the_installed_package_imports_every_module_and_builds_the_demo(venv, tmp_path):
    import vq_explorer as vqe
    folder = tmp_path / "ck"
    folder.mkdir()
    digits = [str(i) for i in range(10)]
    vqe.save(make_tiny_model(classes=digits, image_size=(28, 28)), folder / "tiny.safetensors")
    script = f"""
import importlib, pkgutil, vq_explorer
assert "{ROOT}" not in vq_explorer.__file__, vq_explorer.__file__
names = [m.name for m in pkgutil.walk_packages(vq_explorer.__path__, "vq_explorer.")]
for name in names:
    importlib.import_module(name)
from vq_explorer.ui import build_demo
demo = build_demo("{folder}")
print(len(names), "modules;", type(demo).__name__)
"""
    out = subprocess.run([str(venv / "bin" / "python"), "-c", script], cwd=tmp_path, env=_clean_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Blocks" in out.stdout and int(out.stdout.split()[0]) >= 30
    for command in ("vq-explorer", "vq-explorer-train", "vq-explorer-evaluate"):
        run = subprocess.run([str(venv / "bin" / command), "--help"], cwd=tmp_path, env=_clean_env(),
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0 and "usage:" in run.stdout, (command, run.stderr[-2000:])


def test_the_installed_command_serves_the_app_and_says_when_it_has_no_checkpoints(venv, tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    empty = tmp_path / "nothing here"
    empty.mkdir()
    command = [str(venv / "bin" / "vq-explorer"), "--checkpoints", str(empty), "--port", str(port)]
    server = subprocess.Popen(command, cwd=tmp_path, env=_clean_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline, page = time.time() + 120, None
        while time.time() < deadline and page is None and server.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
            except OSError:
                time.sleep(0.5)
        assert page is not None and "vq-explorer" in page, server.stderr.read() if server.poll() else "no answer"
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "no checkpoints (*.safetensors) in" in err and str(empty) in err and "--checkpoints DIR" in err
