"""tools/mutants.py breaks the code on purpose to show each guarded behaviour has a test that fails. Its list
must follow the code: a mutant whose text no longer occurs (exactly once) would silently test nothing."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_mutant_quotes_its_source_exactly_once_and_names_tests_that_exist():
    spec = importlib.util.spec_from_file_location("mutants", ROOT / "tools" / "mutants.py")
    mutants = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mutants)
    assert len(mutants.MUTANTS) >= 60 and len({m[0] for m in mutants.MUTANTS}) == len(mutants.MUTANTS)
    for name, file, tests, old, new in mutants.MUTANTS:
        assert (ROOT / file).read_text().count(old) == 1, name
        assert old != new and all((ROOT / t).is_file() for t in tests.split()), name
