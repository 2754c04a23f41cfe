"""The goal and warm-start state the receding-horizon MPC keeps (goal latent or pose, the shifted previous plan)."""
from __future__ import annotations

import numpy as np
import torch


def valid_image(image: object) -> bool:
    """An RGB frame the encoder can read: a uint8 NumPy array [H, W, 3] with H, W >= 1."""
    return (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[-1] == 3 and min(image.shape[:2]) >= 1)


class GoalLatentState:
    """reset / set_goal / encode / set_goal_image / remember over `world_model`, `device`, `z_goal`, `ee_goal` and
    the warm start (`_warm`, `_prev_action`), set up by `_init_goal_state`."""

    def _init_goal_state(self, world_model, device: torch.device) -> None:
        self.world_model, self.device = world_model, device
        self._warm: torch.Tensor | None = None  # [H, A] previous plan, shifted
        self._prev_action: torch.Tensor | None = None  # [A]
        self.z_goal: torch.Tensor | None = None
        self.ee_goal: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the warm start and the last action (keep the goal)."""
        self._warm, self._prev_action = None, None

    def remember(self, result, tail: torch.Tensor) -> None:
        """After a plan: warm-start the next solve from it shifted one step (`tail` [1, A] appended) and keep its
        first action for the smoothness cost; forget both after a non-OK plan."""
        if result.ok:
            self._warm = torch.cat([result.actions[1:], tail], dim=0)  # [H, A]
            self._prev_action = result.actions[0]
        else:
            self.reset()

    def set_goal(self, z_goal: torch.Tensor | None = None, ee_goal: object = None) -> None:
        """Goal latent [D] and/or goal end-effector position [3] (world frame, metres)."""
        if z_goal is not None:
            self.z_goal = torch.as_tensor(z_goal, dtype=torch.float32, device=self.device).reshape(-1)
        if ee_goal is not None:
            self.ee_goal = torch.as_tensor(np.asarray(ee_goal, dtype=np.float32), device=self.device).reshape(3)

    @torch.no_grad()
    def encode(self, image: np.ndarray, proprio: np.ndarray | None = None) -> torch.Tensor:
        """uint8 image [H, W, 3] (+ proprio [P]) -> latent [D] on the planner device."""
        img = torch.as_tensor(np.ascontiguousarray(image), device=self.device)[None]  # [1, H, W, 3]
        prop = None if proprio is None else torch.as_tensor(
            np.asarray(proprio, dtype=np.float32), device=self.device)[None]
        return self.world_model.encode(img, prop)[0].float()

    def set_goal_image(self, image: np.ndarray, proprio: np.ndarray | None = None) -> None:
        """Encode a goal image (+ the goal's proprioception) once and keep its latent."""
        self.z_goal = self.encode(image, proprio)
