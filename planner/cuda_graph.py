"""A whole CEM solve captured once as a CUDA graph and replayed every plan.

On a GPU the eager solve is launch-bound: a few thousand tiny kernels (H predictor steps, the joint
integration, forward kinematics, every guardrail, top-k) cost far more in Python and launch overhead
than in arithmetic, and that Python time holds the GIL the other nodes need. One capture per context
layout turns each plan into a handful of copies and one `graph.replay()`.

The graph runs every configured iteration (no deadline checks between them; a whole solve takes
milliseconds) followed by the final check of its plan. Its noise is drawn outside the graph from the
caller's generator, so a graph solve samples exactly what the eager solve would, and no RNG state is
touched by capture. Anything that breaks capture falls back to the eager solve for good, with one warning.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings

import torch

from jepa_mpc.planner.cem import CEMState, cem_iteration, initial_distribution
from jepa_mpc.planner.config import CEMConfig
from jepa_mpc.planner.objective import PlanProblem
from jepa_mpc.planner.types import PlanContext, PlanResult

logger = logging.getLogger(__name__)

_CONTEXT_TENSORS = ("z0", "q0", "qd0", "z_goal", "ee_goal", "prev_action")


def _context_tensors(ctx: PlanContext) -> dict[str, torch.Tensor]:
    """The context's tensors by name (absent goals and a missing previous action left out)."""
    return {name: getattr(ctx, name) for name in _CONTEXT_TENSORS if getattr(ctx, name) is not None}


Check = tuple[bool, bool, float, dict[str, float]]
"""PlanProblem.check's answer: (feasible, finite, soft cost, per-term breakdown)."""


@dataclasses.dataclass
class _Captured:
    """One captured solve: the static tensors it reads, the state and final check it leaves, and the graph."""

    inputs: dict[str, torch.Tensor]  # context tensors by name, plus "mean", "std", "hold", "noise"
    state: CEMState
    check: tuple[list[str], torch.Tensor]  # PlanProblem.check_values of state.best_actions
    graph: torch.cuda.CUDAGraph

    def replay(self, values: dict[str, torch.Tensor], generator: torch.Generator | None) -> None:
        for name, value in values.items():
            self.inputs[name].copy_(value)
        noise = self.inputs["noise"]  # [iterations, K, H, A], drawn as the eager solve draws it
        for it in range(noise.shape[0]):
            torch.randn(noise.shape[1:], generator=generator, out=noise[it])
        self.graph.replay()
        # Wait with the GIL released, so the other nodes in this process run meanwhile; reads are then instant.
        torch.cuda.synchronize(self.inputs["noise"].device)


def _assert_no_host_sync(fn) -> None:
    """Run fn once with torch's sync debugging set to raise, so a host sync (a scalar read such as `float(t)`, or
    `.cpu()`) fails here, eagerly, rather than inside capture: a failed capture leaves the process's CUDA RNG
    unusable."""
    before = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings():  # "a prototype feature": it misses some syncs; capture still catches those
        warnings.simplefilter("ignore", UserWarning)
        torch.cuda.set_sync_debug_mode("error")
    try:
        fn()
    finally:
        torch.cuda.set_sync_debug_mode(before)


class GraphedCEM:
    """`solve(ctx, init_mean, init_std, hold, generator) -> (PlanResult, final check) | None`: the CEM solve of
    `problem` and PlanProblem.check of its plan, replayed from a CUDA graph.

    Returns None (and from then on always None) when capture fails; the caller then solves eagerly.
    """

    def __init__(self, problem: PlanProblem, cfg: CEMConfig, *, warmup: int = 2) -> None:
        if warmup < 1:
            raise ValueError(f"warmup must be >= 1, got {warmup}")
        if problem.device.type != "cuda":
            raise ValueError(f"CUDA graphs need a cuda device, the problem is on {problem.device}")
        self.problem, self.cfg, self.warmup = problem, cfg, warmup
        self._graphs: dict[tuple, _Captured] = {}
        self.usable = True
        self.captures = 0  # graphs captured so far (one per context layout)

    @torch.no_grad()
    def solve(
        self,
        ctx: PlanContext,
        init_mean: torch.Tensor,
        init_std: torch.Tensor | float | None,
        hold: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[PlanResult, Check] | None:
        if not self.usable:
            return None
        start = time.perf_counter()
        mean, std = initial_distribution(self.cfg, init_mean, init_std)
        values = {**_context_tensors(ctx), "mean": mean, "std": std, "hold": hold.to(mean)}
        key = tuple((name, tuple(v.shape), v.dtype) for name, v in values.items())
        captured = self._graphs.get(key)
        if captured is None:
            try:
                captured = self._capture(ctx, values)
            except Exception as exc:  # noqa: BLE001 (any capture failure: fall back, never fail the plan)
                self.usable = False
                logger.warning("CUDA graph capture of the CEM solve failed (%s: %s); solving eagerly from now on",
                               type(exc).__name__, exc)
                return None
            self._graphs[key] = captured
        captured.replay(values, generator)
        check = self.problem.read_check(*captured.check)
        return captured.state.result(hold, timed_out=False, solve_time_s=time.perf_counter() - start), check

    def _capture(self, ctx: PlanContext, values: dict[str, torch.Tensor]) -> _Captured:
        """Warm up on a side stream (lazy library init must not be captured; the first warm-up run also rejects
        host syncs), then capture one solve."""
        device = self.problem.device
        inputs = {name: value.detach().clone() for name, value in values.items()}
        static_ctx = dataclasses.replace(ctx, **{n: inputs[n] for n in _CONTEXT_TENSORS if n in inputs})
        objective = self.problem.objective(static_ctx)
        cfg = self.cfg
        mean = inputs["mean"]
        inputs["noise"] = torch.zeros(cfg.iterations, cfg.num_samples, *mean.shape, device=device, dtype=mean.dtype)

        def solve() -> tuple[CEMState, tuple[list[str], torch.Tensor]]:
            state = CEMState.start(mean, inputs["std"], inputs["hold"], cfg.iterations)
            for it in range(cfg.iterations):
                cem_iteration(objective, cfg, state, inputs["hold"], inputs["noise"][it])
            return state, self.problem.check_values(state.best_actions, static_ctx)

        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            _assert_no_host_sync(solve)
            for _ in range(self.warmup - 1):
                solve()
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            state, check = solve()
        self.captures += 1
        logger.info("captured the CEM solve as a CUDA graph (K=%d, %d iterations, context %s)", cfg.num_samples,
                    cfg.iterations, sorted(_context_tensors(ctx)))
        return _Captured(inputs, state, check, graph)
