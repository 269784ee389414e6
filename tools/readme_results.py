"""Copy the measured tables and their findings into the README and docs/, so their figures are the results files'
own.

    python tools/readme_results.py           # rewrite the marked blocks of README.md and docs/*.md
    python tools/readme_results.py --check   # exit 1, naming the stale blocks, where a page differs

A block is the text between `<!-- results:NAME -->` and `<!-- /results -->`; NAME is a file in
benchmarks/results/ as its benchmark writes it: tradeoff.md and priors.md (`python benchmarks/tradeoff.py`),
maskgit_steps.md (`python benchmarks/maskgit_steps.py`), codec.md (`python benchmarks/codec.py`), models.md and
models_short.md (`python -m vq_explorer.commands.rebuild`), and the others named in the pages.
"""

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


BLOCK = re.compile(r"(<!-- results:(?P<name>[\w.]+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


RESULTS = ROOT / "benchmarks" / "results"


def content(name: str, folder: Path = RESULTS) -> str:
    path = folder / name
    if not path.exists():
        raise SystemExit(f"error: the README shows results file {name}, which does not exist in {folder}: "
                         "run the benchmark that writes it")
    return path.read_text()


def update(text: str, folder: Path = RESULTS) -> tuple[str, list[str]]:
    """The README with every block replaced by its file's text, and the names of the blocks that changed."""
    stale = []

    def fill(m):
        body = content(m["name"], folder)
        if body != m["body"]:
            stale.append(m["name"])
        return m.group(1) + body + m.group(4)
    return BLOCK.sub(fill, text), stale


def pages() -> list[Path]:
    """The README and every page of docs/: where results blocks live."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only say whether the pages are current")
    args = ap.parse_args(argv)
    stale_pages = []
    for page in pages():
        new, stale = update(page.read_text())
        if stale:
            stale_pages.append(f"{page.relative_to(ROOT)} ({', '.join(stale)})")
            if not args.check:
                page.write_text(new)
    if args.check:
        if stale_pages:
            sys.exit(f"blocks older than their results: {'; '.join(stale_pages)} "
                     "(python tools/readme_results.py rewrites them)")
        print("results blocks are current")
        return
    print(f"rewrote {'; '.join(stale_pages)}" if stale_pages else "nothing to rewrite")


if __name__ == "__main__":
    main()
