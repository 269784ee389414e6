"""Deploy the app as a Hugging Face Space, without git: the files the app reads are uploaded with
huggingface_hub (`HfApi.upload_folder` stores the checkpoints and other binaries as the Hub wants them).

    python tools/deploy_space.py USER/SPACE --dry-run   # list what would be uploaded, and its size
    python tools/deploy_space.py USER/SPACE             # create the Space if needed and upload (HF_TOKEN or
                                                        # `huggingface-cli login` for the token)

Only what the app reads goes up: app.py, README.md (its front matter configures the Space), the package, the
shipped checkpoints (not a rebuild's partial state), and the trade-off tab's tables and sample sheets. Tests,
benchmark scripts, docs and run folders stay home. The Space's requirements.txt is this one with torch and
torchvision taken from PyTorch's CPU wheel index: the default index's CUDA build would fill a CPU Space with
several GB of GPU libraries it cannot use.
"""

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE_FILES = ["app.py", "README.md", "vq_explorer/**/*.py", "vq_explorer/ui/painter.js",
               "vq_explorer/service/lab_data/*.npz", "vq_explorer/service/lab_data/*.safetensors",
               "checkpoints/*.safetensors",
               "benchmarks/results/*.csv", "benchmarks/results/*_samples.png"]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def space_files(root: Path = ROOT) -> list[str]:
    """The repository's files the Space needs, as paths relative to `root`."""
    found = {p for pattern in SPACE_FILES for p in root.glob(pattern) if p.is_file()}
    return sorted(str(p.relative_to(root)) for p in found if "__pycache__" not in p.parts)


def space_requirements(root: Path = ROOT) -> str:
    """requirements.txt for a CPU Space: torch and torchvision pinned to their CPU builds, from PyTorch's index."""
    out = [f"--extra-index-url {CPU_INDEX}"]
    for line in (root / "requirements.txt").read_text().splitlines():
        name = line.split("==")[0].strip()
        out.append(f"{line.strip()}+cpu" if name in ("torch", "torchvision") and "==" in line else line)
    out += extra_requirements(root)    # every optional feature too: a Space opens Hub tokenizers (VQE_OPEN)
    return "\n".join(out) + "\n"


def extra_requirements(root: Path = ROOT) -> list[str]:
    """The optional extras' requirements (pyproject's), those requirements.txt does not already hold."""
    import tomllib  # Python 3.11, as the Space's own
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    name = lambda line: re.match(r"\s*([A-Za-z0-9_.-]*)", line).group(1).lower().replace("_", "-")
    have = {name(line) for line in (root / "requirements.txt").read_text().splitlines()}
    out = []
    for reqs in extras.values():
        out += [r for r in reqs if name(r) not in have and r not in out]
    return out


def stage(dest: Path, root: Path = ROOT) -> list[str]:
    """Copy the Space's files into `dest` with its requirements.txt; the list of what is there."""
    files = space_files(root)
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest / rel)
    (dest / "requirements.txt").write_text(space_requirements(root))
    return sorted([*files, "requirements.txt"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("space", help="the Space's id, USER/NAME")
    ap.add_argument("--dry-run", action="store_true", help="list the files and stop")
    ap.add_argument("--private", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = stage(Path(tmp))
        size = sum((Path(tmp) / f).stat().st_size for f in files)
        print("\n".join(files))
        print(f"{len(files)} files, {size / 1e6:.1f} MB, for https://huggingface.co/spaces/{args.space}")
        if args.dry_run:
            return
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo(args.space, repo_type="space", space_sdk="gradio", private=args.private, exist_ok=True)
        api.upload_folder(repo_id=args.space, repo_type="space", folder_path=tmp,
                          commit_message="Deploy vq-explorer",   # (stale files of ours go first)
                          delete_patterns=["*.py", "*.js", "*.safetensors", "*.npz", "*.csv", "*.png"])
        print(f"uploaded; the Space builds at https://huggingface.co/spaces/{args.space}")


if __name__ == "__main__":
    sys.exit(main())
