"""The README's measured tables and findings are copies of the results files: a hand edit, or a benchmark rerun
without `python tools/readme_results.py`, is caught here."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import readme_results  # noqa: E402


def test_the_readme_and_docs_blocks_are_the_results_files():
    texts = {p.name: p.read_text() for p in readme_results.pages()}
    assert "<!-- results:models_short.md -->" in texts["README.md"]
    assert "<!-- results:tradeoff.md -->" in texts["results.md"]
    assert "<!-- results:codec.md -->" in texts["codec.md"]
    for name, text in texts.items():
        new, stale = readme_results.update(text)
        assert stale == [], f"{name}: blocks differ from benchmarks/results: {stale}"
        assert new == text


def test_a_block_is_rewritten_from_its_file_and_named_when_stale(tmp_path):
    (tmp_path / "priors.md").write_text("| a | b |\n")
    readme = "intro\n<!-- results:priors.md -->\nold numbers\n<!-- /results -->\nafter\n"
    new, stale = readme_results.update(readme, tmp_path)
    assert new == "intro\n<!-- results:priors.md -->\n| a | b |\n<!-- /results -->\nafter\n"
    assert stale == ["priors.md"]
    assert readme_results.update(new, tmp_path) == (new, [])
    with pytest.raises(SystemExit, match="does not exist"):
        readme_results.update("<!-- results:gone.md -->\n<!-- /results -->", tmp_path)
