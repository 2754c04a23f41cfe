"""The README's parameter tables document every node parameter with its help text, so docs cannot drift from code."""
from __future__ import annotations

import importlib
import pathlib
import re

import pytest

from jepa_mpc.ros_nodes.graph import GRAPHS
from jepa_mpc.ros_nodes.params import flatten

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
CONFIGS = {"sim_bridge": "SimBridgeConfig", "mpc": "MpcNodeConfig", "safety_filter": "SafetyFilterNodeConfig"}


def _readme_table(node: str) -> dict[str, str]:
    """{parameter: meaning} from the README table under the bold node heading."""
    text = README.read_text()
    section = text.split(f"\n**{node}**\n", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| .*? \| (.*) \|$", section, flags=re.M)
    return dict(rows)


@pytest.mark.parametrize("spec", sorted({s for g in GRAPHS.values() for s in g}, key=lambda s: s.name),
                         ids=lambda s: s.name)
def test_every_parameter_is_documented_with_its_help(spec):
    cls = getattr(importlib.import_module(spec.module), CONFIGS[spec.name])
    documented = _readme_table(spec.name)
    for name, (_, help_text, _) in flatten(cls).items():
        assert name in documented, f"README lacks the {spec.name} parameter {name}"
        assert documented[name].startswith(help_text), (name, documented[name], help_text)
