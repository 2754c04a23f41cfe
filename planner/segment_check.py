"""The safety filter's swept check of one joint-space segment (NumPy + MuJoCo positions, no torch).

The controller moves the arm along q(s) = q_a + s (q_b - q_a), s in [0, 1]. With D_k the bound on check sphere
k's path length over that segment (robots/motion_bound.py), N interior samples at s = (j + 1/2) / N each stand for
a piece of the path no longer than D_k / N, so every point of the path is within D_k / (2 N) of a sample. A
1-Lipschitz clearance (zone distance, height, workspace margin) of at least `need + D_k / (2 N)` at every sample
is therefore at least `need` everywhere on the segment, ends included. N is even and chosen so that
D / (2 N) <= GuardrailConfig.swept_resolution_m.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jepa_mpc.robots.motion_bound import samples_for


@dataclasses.dataclass(frozen=True)
class SegmentSamples:
    """Joint samples of a segment and what each stands for."""

    q: np.ndarray
    """[N, J] joint vectors at s = (j + 1/2) / N."""
    inflation: np.ndarray
    """[P] how much each point's clearance must exceed its need at the samples: D_k / (2 N)."""
    displacement: np.ndarray
    """[P] the path-length bound D_k of each point over the whole segment."""


def segment_samples(q_a: np.ndarray, q_b: np.ndarray, lever: np.ndarray, resolution_m: float) -> SegmentSamples:
    """Samples of q_a -> q_b (both [J]) for points with lever arms lever [J, P]."""
    dq = np.asarray(q_b, dtype=np.float64) - np.asarray(q_a, dtype=np.float64)
    displacement = np.abs(dq) @ lever  # [P]
    n = samples_for(float(displacement.max(initial=0.0)), resolution_m)
    s = (np.arange(n) + 0.5) / n
    return SegmentSamples(q=q_a + s[:, None] * dq, inflation=displacement / (2 * n), displacement=displacement)
