"""The optimiser of an MPC (cem | gradient | hybrid) and, on a GPU, its CUDA-graph replay.

The receding-horizon MPC (planner/mpc.py) mixes it in: it chooses, seeds and runs the solves.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import torch

from jepa_mpc.planner.cem import CEMOptimizer
from jepa_mpc.planner.config import MPCConfig
from jepa_mpc.planner.cuda_graph import Check, GraphedCEM
from jepa_mpc.planner.gradient import GradientOptimizer
from jepa_mpc.planner.hybrid import HybridOptimizer
from jepa_mpc.planner.objective import PlanProblem
from jepa_mpc.planner.protocols import Solver
from jepa_mpc.planner.types import PlanContext, PlanResult, PlanStatus

logger = logging.getLogger(__name__)


class SolverMixin:
    """`_init_solver(problem, cfg)` once, then `_solve(...)` per attempt; needs `self.problem`."""

    problem: PlanProblem

    def _init_solver(self, problem: PlanProblem, cfg: MPCConfig) -> None:
        cem, grad = CEMOptimizer(cfg.cem), GradientOptimizer(cfg.gradient)
        self.optimizer: Solver = {"cem": cem, "gradient": grad, "hybrid": HybridOptimizer(cem, grad)}[cfg.optimizer]
        self._generator = torch.Generator(device=problem.device).manual_seed(cfg.cem.seed or 0)
        # On a GPU the CEM solve is replayed as one CUDA graph (torch.compile's own graphs take precedence).
        use_graph = cfg.cuda_graph and cfg.optimizer == "cem" and problem.device.type == "cuda" and not cfg.compile
        self.graphed = GraphedCEM(problem, cfg.cem) if use_graph else None
        if problem.device.type == "cuda" and cfg.optimizer != "cem":
            logger.warning("%s planning on cuda runs eagerly and is launch-bound (about 1 s per H=20 plan on an "
                           "H100, docs/benchmarks.md); optimizer cem replays each solve as a CUDA graph", cfg.optimizer)

    def reseed(self, seed: int) -> None:
        """Restart the sampling stream (the eval does per episode, so an episode's plans do not depend on which
        episodes the same planner solved before)."""
        self._generator.manual_seed(seed)

    def _solve(
        self,
        ctx: PlanContext,
        init: torch.Tensor,
        init_std: float | None,
        hold: torch.Tensor,
        deadline_s: float | None,
        eager: bool = False,
    ) -> tuple[PlanResult, Check | None]:
        """(result, final check of its plan when the graph already ran it, else None); `eager` skips the captured
        graph (it replays the problem's own cost stack)."""
        if self.graphed is not None and not eager:
            graphed = self.graphed.solve(ctx, init, init_std, hold, self._generator)
            if graphed is not None:  # None: its capture failed, solve eagerly
                return graphed
        result = self.optimizer.solve(self.problem.objective(ctx), init, init_std, hold=hold, deadline_s=deadline_s,
                                      generator=self._generator)
        return result, None

    def _validated(self, result: PlanResult, check: Check | None, ctx: PlanContext, hold: torch.Tensor) -> PlanResult:
        """The final check (the graph's, else one eager check), like nav2's trajectory validator: an OK plan gets its
        cost breakdown, or becomes the hold plan when it is infeasible or its cost non-finite."""
        if not result.ok:
            return result
        feasible, finite, cost, terms = check or self.problem.check(result.actions, ctx)
        if feasible and finite:
            return dataclasses.replace(result, cost=cost, cost_terms=terms)
        status = PlanStatus.NON_FINITE_COST if feasible else PlanStatus.INFEASIBLE
        logger.error("the optimiser's plan fails the final check (%s); holding", status.value)
        return dataclasses.replace(result, actions=hold.clone(), status=status, cost=math.inf, cost_terms=terms)
