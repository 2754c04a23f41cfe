"""docs/parameters.md is generated from the nodes' config dataclasses (`jepa-mpc param-docs --write`): it must be
current, and it must document every parameter with its default and help text, so the docs cannot drift."""
from __future__ import annotations

import importlib

import pytest

from jepa_mpc.apps.param_docs import CONFIGS, DOC, render
from jepa_mpc.ros_nodes.graph import GRAPHS
from jepa_mpc.ros_nodes.params import flatten


def test_parameters_doc_is_current():
    assert DOC.read_text() == render(), "docs/parameters.md is stale: run `jepa-mpc param-docs --write`"


@pytest.mark.parametrize("spec", sorted({s for g in GRAPHS.values() for s in g}, key=lambda s: s.name),
                         ids=lambda s: s.name)
def test_every_parameter_is_documented_with_its_default_and_help(spec):
    cls = getattr(importlib.import_module(spec.module), CONFIGS[spec.name])
    section = DOC.read_text().split(f"\n## {spec.name}\n", 1)[1].split("\n## ", 1)[0]
    for name, (default, help_text, read_only) in flatten(cls).items():
        row = next((line for line in section.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, f"docs/parameters.md lacks the {spec.name} parameter {name}"
        assert help_text.replace("|", "\\|") in row
        assert ("(start-up only)" in row) == read_only
        assert str(default if not isinstance(default, bool) else str(default).lower()) in row.replace('`""`', "")


def test_a_new_field_makes_the_doc_stale(monkeypatch):
    """The check can fail: a parameter added to a config without regenerating the doc is caught."""
    import dataclasses

    from jepa_mpc.apps import param_docs
    from jepa_mpc.ros_nodes.params import param

    module = importlib.import_module("jepa_mpc.ros_nodes.safety_filter_node")
    base = module.SafetyFilterNodeConfig
    extra = dataclasses.make_dataclass("SafetyFilterNodeConfig", [("new_knob", float, param(1.0, "a new knob"))],
                                       bases=(base,), frozen=True)
    monkeypatch.setattr(module, "SafetyFilterNodeConfig", extra)
    assert "new_knob" in param_docs.render()
    assert DOC.read_text() != param_docs.render()
