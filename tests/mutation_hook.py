"""Import hook of the safety mutation runner (tests/safety_mutations.py): each module named in
$JEPA_SAFETY_MUTATION is compiled from its source with textual replacements applied, in this process and every
child it starts.

The runner puts a folder whose sitecustomize.py calls `install()` first on PYTHONPATH; no file is ever edited.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys

ENV = "JEPA_SAFETY_MUTATION"


def mutate(source: str, replacements) -> str:
    """`source` with each (old, new) applied; each `old` must occur exactly once (else the mutation is stale)."""
    for old, new in replacements:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"mutation text found {count} times, expected once: {old!r}")
        source = source.replace(old, new)
    return source


class _MutatedLoader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, replacements) -> None:
        super().__init__(fullname, path)
        self.replacements = replacements

    def get_code(self, fullname):
        with open(self.path, encoding="utf-8") as f:
            return compile(mutate(f.read(), self.replacements), self.path, "exec")


class _Finder:
    def __init__(self, patches: dict) -> None:
        self.patches = patches  # module name -> [(old, new), ...]

    def find_spec(self, name, path=None, target=None):
        if name not in self.patches:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        spec.loader = _MutatedLoader(name, spec.origin, self.patches[name])
        return spec


def install() -> None:
    """Install the hook when $JEPA_SAFETY_MUTATION holds a mutation: {module: [[old, new], ...], ...}."""
    spec = os.environ.get(ENV)
    if spec:
        patches = {module: [tuple(r) for r in pairs] for module, pairs in json.loads(spec).items()}
        sys.meta_path.insert(0, _Finder(patches))
