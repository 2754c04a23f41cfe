"""The control loop's latency budget, stage by stage: what each node measures of a frame's way to an arm command.

A camera frame becomes a command in named stages (STAGES, in order). The mpc node times the first six, the
safety_filter node the next two, and a subscriber of the command (the bench's probe) the last one; each node
publishes its per-tick figures and a rolling p50 / p99 per stage on /diagnostics (`StageWindow.summary`), and
`jepa-mpc bench` joins the three by the plan's stamp into the whole chain.
"""
from __future__ import annotations

import collections
import math

import numpy as np

STAGES = {
    "receive": "frame stamp -> the mpc node's image callback (driver, transport, executor)",
    "decode": "image message -> RGB array the model takes",
    "wait": "decoded -> the planning thread picks the frame up",
    "encode": "frame -> latent (the encoder)",
    "plan": "the solve: CEM / gradient iterations, costs, guardrails, final check",
    "publish": "plan -> trajectory message published (integration, message building)",
    "transport": "plan published -> the safety_filter node's callback",
    "filter": "plan received -> command published (the safety filter's checks)",
    "command": "command published -> received by a subscriber (the arm's controller)",
}
"""Stage name -> what it covers; the names are the keys of the nodes' diagnostics (`stage.<name>_ms`)."""


class StageWindow:
    """The last `size` figures of each stage, in milliseconds; non-finite figures are dropped."""

    def __init__(self, size: int = 200) -> None:
        if size < 1:
            raise ValueError(f"window size must be >= 1, got {size}")
        self._ms: dict[str, collections.deque] = {}
        self._size = size

    def add(self, stages_ms: dict[str, float]) -> None:
        """Record one tick's figures {stage: ms}."""
        for stage, ms in stages_ms.items():
            if stage not in STAGES:
                raise KeyError(f"unknown stage {stage!r}; stages: {list(STAGES)}")
            if isinstance(ms, (int, float)) and math.isfinite(ms):
                self._ms.setdefault(stage, collections.deque(maxlen=self._size)).append(float(ms))

    def summary(self) -> dict[str, float]:
        """{'latency.<stage>_ms.p50': ..., 'latency.<stage>_ms.p99': ...} over the window, stages in STAGES order."""
        out = {}
        for stage in STAGES:
            values = self._ms.get(stage)
            if values:
                p50, p99 = np.percentile(np.fromiter(values, float), (50, 99))
                out[f"latency.{stage}_ms.p50"] = round(float(p50), 3)
                out[f"latency.{stage}_ms.p99"] = round(float(p99), 3)
        return out


def tick_values(stages_ms: dict[str, float]) -> dict[str, float]:
    """One tick's figures as diagnostics values {'stage.<name>_ms': ms} (rounded to microseconds)."""
    return {f"stage.{stage}_ms": round(float(ms), 3) for stage, ms in stages_ms.items()}
