"""Every optimiser the MPC can pick takes the Solver protocol's call (planner/protocols.py): same parameters, same
kinds, so the MPC can call any of them the same way."""
from __future__ import annotations

import inspect

import pytest

from jepa_mpc.planner.cem import CEMOptimizer
from jepa_mpc.planner.gradient import GradientOptimizer
from jepa_mpc.planner.hybrid import HybridOptimizer
from jepa_mpc.planner.protocols import Solver


def _params(function) -> list[tuple[str, inspect._ParameterKind, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("solver", [CEMOptimizer, GradientOptimizer, HybridOptimizer])
def test_each_optimiser_has_the_protocols_call(solver):
    assert _params(solver.solve) == _params(Solver.solve)
