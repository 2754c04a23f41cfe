"""The mutation runner (tests/safety_mutations.py) cannot rot: each patch still matches its module's source
exactly once, and each proving test it names exists. (Running the mutations is `python -m tests.safety_mutations`.)"""
from __future__ import annotations

import pathlib

import pytest

from tests.safety_mutations import MUTATIONS, ROOT, check_applies


@pytest.mark.parametrize("key", sorted(MUTATIONS))
def test_mutation_still_applies_and_names_real_tests(key):
    mutation = MUTATIONS[key]
    check_applies(mutation)
    for test in mutation.tests:
        path, _, name = test.partition("::")
        source = (ROOT / path).read_text()
        assert not name or f"def {name}(" in source, test
    assert pathlib.Path(ROOT / "docs" / "safety.md").read_text().count(f"`{key}`") == 1, "listed once in the docs"
