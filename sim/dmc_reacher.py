"""`jepa_mpc/DMCReacher-v0`: dm_control's reacher behind the same observation and goal conventions as the Panda.

So results compare with DINO-WM (0.92) and LeWM (0.84-0.86) on Reacher: same task (dm_control `reacher`,
difficulty `easy` by default), frame skip 5 (DINO-WM's setting, 10 Hz control), goal as an image and a position.
Observation: image [H,W,3] from the fixed top-down camera; joint_pos / joint_vel [2] (shoulder, wrist);
ee_pos [3] (finger) and ee_quat [4] (hand body); goal_pos [3] (target). Action: [2] joint torques in [-1, 1]
(dm_control's own units). Success: finger within target radius + finger radius of the target, which is exactly
where dm_control's reward is 1. The goal image shows the arm at rest in the 2-link IK configuration that puts the
finger on the target, on the side (sign of the wrist angle) the arm starts on; reset's info carries it as
`goal_joint_pos` [2] and `goal_joint_vel` [2] (zeros). `terminated` is always False; the TimeLimit ends episodes.

Images hide the target marker unless `show_target=True`: the goal is given by the goal image alone (the arm at the
goal configuration, as in DINO-WM's image goals). With the marker visible, the one thing in view that is constant
within an episode, a JEPA encoder learnt the marker and ignored the arm (reacher_v0 with the marker, 2000 steps:
finger-position probe 13.3 cm vs 13.2 cm for predicting the mean), so planning had nothing to go on.
"""
from __future__ import annotations

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces

from jepa_mpc.sim.rendering import make_renderer

_HIDDEN_GROUP = 5  # geom group of the target marker when it is hidden from the camera


def two_link_ik(xy: np.ndarray, l1: float, l2: float, elbow: float = 1.0) -> np.ndarray:
    """Shoulder and wrist angles [2] putting the tip of a planar 2-link arm at `xy`; `elbow` > 0 picks the
    branch with wrist >= 0, < 0 its mirror image (wrist <= 0)."""
    r2 = float(np.clip(xy @ xy, (l1 - l2) ** 2 + 1e-9, (l1 + l2) ** 2 - 1e-9))
    wrist = np.arccos(np.clip((r2 - l1**2 - l2**2) / (2 * l1 * l2), -1.0, 1.0)) * (1.0 if elbow > 0 else -1.0)
    shoulder = np.arctan2(xy[1], xy[0]) - np.arctan2(l2 * np.sin(wrist), l1 + l2 * np.cos(wrist))
    return np.array([shoulder, wrist])


class DMCReacherEnv(gymnasium.Env):
    """dm_control reacher with dict observations, goal image and goal position."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, difficulty: str = "easy", image_size: int = 64, frame_skip: int = 5,
                 render_mode: str | None = None, show_target: bool = False) -> None:
        from dm_control import suite

        if difficulty not in ("easy", "hard"):
            raise ValueError(f"difficulty must be 'easy' or 'hard', got {difficulty!r}")
        if not isinstance(frame_skip, int) or frame_skip < 1:
            raise ValueError(f"frame_skip must be a positive int, got {frame_skip!r}")
        if not isinstance(image_size, int) or not 16 <= image_size <= 480:
            raise ValueError(f"image_size must be an int in [16, 480], got {image_size!r}")
        self._dm_env = suite.load("reacher", difficulty, task_kwargs={"random": 0})
        self.physics = self._dm_env.physics
        self.model = self.physics.model.ptr
        self.data = self.physics.data.ptr
        self._scratch = mujoco.MjData(self.model)
        self.image_size = image_size
        self.frame_skip = frame_skip
        self.render_mode = render_mode
        self._renderer = None
        self.show_target = bool(show_target)
        self._scene_option = mujoco.MjvOption()
        if not self.show_target:  # contacts are off in this model, so a geom's group only affects rendering
            self.model.geom_group[self.model.geom("target").id] = _HIDDEN_GROUP
            self._scene_option.geomgroup[_HIDDEN_GROUP] = 0
        self._goal_q = np.zeros(2)
        self._l1 = float(self.model.body("hand").pos[0])
        self._l2 = float(self.model.body("finger").pos[0])
        self.goal_pos = np.zeros(3)
        self.goal_image = np.zeros((image_size, image_size, 3), np.uint8)
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
            "joint_pos": spaces.Box(-100.0, 100.0, (2,), np.float32),
            "joint_vel": spaces.Box(-1000.0, 1000.0, (2,), np.float32),
            "ee_pos": spaces.Box(-1.0, 1.0, (3,), np.float32),
            "ee_quat": spaces.Box(-1.0, 1.0, (4,), np.float32),
            "goal_pos": spaces.Box(-1.0, 1.0, (3,), np.float32),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

    @property
    def tolerance_m(self) -> float:
        """Success radius: target radius + finger radius (dm_control's reward-1 region)."""
        return float(self.model.geom("target").size[0] + self.model.geom("finger").size[0])

    @property
    def ee_pos(self) -> np.ndarray:
        return self.data.geom("finger").xpos.copy()

    def _render(self, data) -> np.ndarray:
        if self._renderer is None:
            self._renderer = make_renderer(self.model, self.image_size, self.image_size)
        self._renderer.update_scene(data, camera=0, scene_option=self._scene_option)
        return self._renderer.render().copy()

    def render(self) -> np.ndarray | None:
        return self._render(self.data) if self.render_mode == "rgb_array" else None

    def _obs(self) -> dict[str, np.ndarray]:
        return {
            "image": self._render(self.data),
            "joint_pos": self.data.qpos[:2].astype(np.float32),
            "joint_vel": self.data.qvel[:2].astype(np.float32),
            "ee_pos": self.ee_pos.astype(np.float32),
            "ee_quat": self.data.body("hand").xquat.astype(np.float32),
            "goal_pos": self.goal_pos.astype(np.float32),
        }

    def _info(self) -> dict:
        distance = float(np.linalg.norm(self.ee_pos[:2] - self.goal_pos[:2]))
        return {"success": distance <= self.tolerance_m, "distance": distance}

    def reach_action(self, target: np.ndarray) -> np.ndarray:
        """Scripted torque [2] driving the finger towards `target` (PD on the 2-link IK solution).

        The IK branch is the one on the wrist's current side, and only the (unlimited) shoulder error is wrapped:
        the wrist is limited to +-160 deg, so wrapping its error, or asking it to swing through to the other
        branch's side, can push it into its limit and stall (35% of the seed-0 episodes did before).
        """
        q = self.data.qpos[:2]
        q_star = two_link_ik(np.asarray(target)[:2], self._l1, self._l2, elbow=1.0 if q[1] >= 0 else -1.0)
        err = q_star - q
        err[0] = np.arctan2(np.sin(err[0]), np.cos(err[0]))
        return np.clip(2.0 * err - 0.2 * self.data.qvel[:2], -1.0, 1.0)

    def sample_workspace_point(self, rng: np.random.Generator) -> np.ndarray:
        """A random reachable point in the arm's plane."""
        angle, radius = rng.uniform(-np.pi, np.pi), rng.uniform(0.05, 0.9 * (self._l1 + self._l2))
        return np.array([radius * np.cos(angle), radius * np.sin(angle), self.goal_pos[2]])

    @property
    def goal_joint_pos(self) -> np.ndarray:
        """Shoulder and wrist angles [2] of the goal image: the 2-link IK solution for the target on the wrist
        side the episode started on (set at reset)."""
        return self._goal_q.copy()

    def render_goal(self) -> np.ndarray:
        """The scene with the finger on the target (2-link IK), at the observation size."""
        self._scratch.qpos[:] = self.data.qpos
        self._scratch.qpos[:2] = self.goal_joint_pos
        self._scratch.qvel[:] = 0.0
        mujoco.mj_forward(self.model, self._scratch)
        return self._render(self._scratch)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # dm_control samples the arm pose and target from the task's RandomState: re-seed it from ours.
        self._dm_env.task.random.seed(int(self.np_random.integers(2**31 - 1)))
        self._dm_env.reset()
        self.goal_pos = self.data.geom("target").xpos.copy()
        side = 1.0 if self.data.qpos[1] >= 0 else -1.0
        self._goal_q = two_link_ik(self.goal_pos[:2], self._l1, self._l2, elbow=side)
        self.goal_image = self.render_goal()
        info = self._info()
        info["goal_image"] = self.goal_image
        # The state the goal image shows, in the observation layouts (for encoders that read proprioception).
        info["goal_joint_pos"] = self.goal_joint_pos.astype(np.float32)
        info["goal_joint_vel"] = np.zeros(2, np.float32)  # the goal arm is at rest
        return self._obs(), info

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (2,):
            raise ValueError(f"action must have shape (2,), got {action.shape}")
        action = np.nan_to_num(np.clip(action, -1.0, 1.0), nan=0.0)
        for _ in range(self.frame_skip):
            self._dm_env.step(action)
        info = self._info()
        return self._obs(), -info["distance"], False, False, info

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
