"""The README and docs/ name real things: every picture and link they point to, every repository path they quote,
every `python -m` module, script and command they tell people to run exists. A rename that forgets the pages
fails here."""

import importlib.util
import re
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("vq_explorer/", "tests/", "benchmarks/", "tools/", "docs/", "checkpoints/", ".ci/")
FILE = re.compile(r"^[\w.\-/]+\.(py|md|png|json|csv|txt|npz|js|toml|html|safetensors|jpg)$")
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def quoted(text: str) -> list[str]:
    """Inline code spans and the lines of code blocks."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    rest = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    return re.findall(r"`([^`\n]+)`", rest) + [line for b in blocks for line in b.splitlines()]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_picture_and_link_of_a_page_exists(page):
    text = page.read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert page.name != "README.md" or len(targets) >= 8
    missing = [t for t in targets if "://" not in t and not t.startswith("#")
               and not (page.parent / t.split("#")[0]).exists()]
    assert not missing, f"{page.name} points to files that are not there: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_module_and_command_a_page_quotes_exists(page):
    missing = []
    for span in quoted(page.read_text()):
        span = span.strip()
        if span.startswith(TOP) and FILE.match(span) and "<" not in span and "mine" not in span:
            if not (ROOT / span).exists():
                missing.append(span)
        for module in re.findall(r"python -m ([\w.]+)", span):
            if module not in ("pytest", "venv", "pip") and importlib.util.find_spec(module) is None:
                missing.append(f"python -m {module}")
        for script in re.findall(r"python ((?:[\w\-]+/)*[\w\-]+\.py)", span):
            if not (ROOT / script).exists():
                missing.append(f"python {script}")
        for command in re.findall(r"(?<![\w/-])(vq-explorer(?:-[a-z]+)?)(?![\w.-])", span):
            if command not in SCRIPTS:
                missing.append(command)
    assert not missing, f"{page.name} quotes what does not exist: {sorted(set(missing))}"


def test_the_readme_is_a_front_door():
    """Short, opening on a picture of the app (within its first screen, 25 lines, the Space's front matter
    included), with the two set-up commands and links to the pages that hold the depth."""
    text = (ROOT / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) <= 200
    first = re.search(r"!\[[^\]]+\]\(([^)]+\.png)\)", "\n".join(lines[:25]))
    assert first and (ROOT / first.group(1)).is_file(), "no picture of the app in the README's first 25 lines"
    assert first.start() < text.find("\n## "), "the picture comes before the first section"
    assert "pip install -r requirements.txt && python app.py" in text
    assert "pip install -r requirements-dev.txt && python -m pytest" in text
    assert {p.name for p in PAGES[1:]} <= set(re.findall(r"\(docs/([\w]+\.md)\)", text))
