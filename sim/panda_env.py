"""Gymnasium environments on the Panda scene: `jepa_mpc/PandaReach-v0` and `jepa_mpc/PandaPush-v1`.

Observation (dict): image uint8 [H,W,3] from the fixed camera; joint_pos / joint_vel [9] (7 arm + 2 fingers);
ee_pos [3] and ee_quat [4] (wxyz) of the end-effector site; goal_pos [3]. Action: [8] in [-1, 1], joint-target
deltas plus gripper (see `arm_control.py`). The goal is given as a position (`goal_pos`, in the observation) and
as an image (`info["goal_image"]` at reset, also `env.unwrapped.goal_image`) with the joint positions it shows
(`info["goal_joint_pos"]` [9], laid out like `joint_pos`). These are continuing tasks:
`terminated` is always False, episodes end by the TimeLimit, and `info["success"]` tells if the goal is met
(tolerances in `tasks.py`). Reward is minus the task distance in metres.
"""
from __future__ import annotations

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces

from jepa_mpc.robots.arm_control import ArmControlConfig, gripper_opening, next_joint_targets
from jepa_mpc.robots.panda import ACTION_DIM
from jepa_mpc.robots.panda import DOF as ARM_DOF
from jepa_mpc.sim.panda_scene import (
    ARM_JOINTS,
    CUBE_BODY,
    EE_SITE,
    FINGER_JOINTS,
    GRIPPER_OPEN,
    CameraConfig,
    load_model,
)
from jepa_mpc.sim.rendering import CameraRendering
from jepa_mpc.sim.tasks import WORKSPACE_HIGH, WORKSPACE_LOW, make_task

CAMERA_NAME = "front"


class PandaArmEnv(CameraRendering, gymnasium.Env):
    """The Panda on a table with a cube, driven by bounded joint-position deltas, observed by one camera."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    camera_name = CAMERA_NAME

    def __init__(self, task: str = "reach", image_size: int = 64, camera: CameraConfig | None = None,
                 control: ArmControlConfig | None = None, render_mode: str | None = None,
                 task_kwargs: dict | None = None) -> None:
        if not isinstance(image_size, int) or not 16 <= image_size <= 512:
            raise ValueError(f"image_size must be an int in [16, 512], got {image_size!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.task = make_task(task, **(task_kwargs or {}))
        self.image_size = image_size
        self.camera = camera or CameraConfig()
        self.control = control or ArmControlConfig()
        self.render_mode = render_mode
        self.model = load_model(self.camera, max_render_size=max(512, image_size))
        self.model.opt.timestep = self.control.physics_dt_s
        self.data = mujoco.MjData(self.model)
        self._fk_data = mujoco.MjData(self.model)  # scratch state for goal sampling / goal images
        ranges = np.array([self.model.joint(n).range for n in ARM_JOINTS])
        self.joint_lower, self.joint_upper = ranges[:, 0].copy(), ranges[:, 1].copy()
        self._arm_qadr = np.array([self.model.joint(n).qposadr[0] for n in ARM_JOINTS])
        self._arm_dadr = np.array([self.model.joint(n).dofadr[0] for n in ARM_JOINTS])
        self._obs_qadr = np.r_[self._arm_qadr, [self.model.joint(n).qposadr[0] for n in FINGER_JOINTS]]
        self._obs_dadr = np.r_[self._arm_dadr, [self.model.joint(n).dofadr[0] for n in FINGER_JOINTS]]
        self._cube_qadr = self.model.joint(self.model.body(CUBE_BODY).jntadr[0]).qposadr[0]
        self._ee_site = self.model.site(EE_SITE).id
        self._renderer = None
        self._targets = np.zeros(ARM_DOF)
        self.goal_pos = np.zeros(3)
        self.goal_arm_qpos = np.zeros(ARM_DOF)
        self.goal_image = np.zeros((image_size, image_size, 3), np.uint8)

        q_range = self.model.jnt_range[[self.model.joint(n).id for n in (*ARM_JOINTS, *FINGER_JOINTS)]]
        n = len(q_range)
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
            # small margin: joints may sit marginally outside their range under contact
            "joint_pos": spaces.Box(q_range[:, 0].astype(np.float32) - 0.05,
                                    q_range[:, 1].astype(np.float32) + 0.05, (n,), np.float32),
            "joint_vel": spaces.Box(-100.0, 100.0, (n,), np.float32),
            "ee_pos": spaces.Box(-2.0, 2.0, (3,), np.float32),
            "ee_quat": spaces.Box(-1.0, 1.0, (4,), np.float32),
            "goal_pos": spaces.Box(-2.0, 2.0, (3,), np.float32),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)

    # ----------------------------------------------------------------------------------------------- state
    def _set_scene(self, data: mujoco.MjData, arm_q: np.ndarray, cube_pos: np.ndarray) -> None:
        data.qpos[self._arm_qadr] = arm_q
        data.qpos[self._obs_qadr[ARM_DOF:]] = GRIPPER_OPEN
        data.qpos[self._cube_qadr : self._cube_qadr + 3] = cube_pos
        data.qpos[self._cube_qadr + 3 : self._cube_qadr + 7] = (1.0, 0.0, 0.0, 0.0)
        data.qvel[:] = 0.0
        mujoco.mj_forward(self.model, data)

    def show_arm(self, arm_q: np.ndarray) -> dict:
        """Put the arm at arm_q (model convention, fingers open), at rest, the cube where it is, and return the
        task's info there: how a checker that reads another simulator only through its joint states mirrors it
        (jepa-mpc eval --through-ros; Reach: the cube stays where the episode put it)."""
        cube = self.data.qpos[self._cube_qadr : self._cube_qadr + 3].copy()
        self._set_scene(self.data, np.asarray(arm_q, dtype=np.float64), cube)
        return self._info()

    def forward_kinematics(self, arm_q: np.ndarray) -> np.ndarray:
        """End-effector position [3] for arm joint positions [7], from the simulator's own kinematics."""
        self._fk_data.qpos[self._arm_qadr] = arm_q
        mujoco.mj_kinematics(self.model, self._fk_data)
        return self._fk_data.site_xpos[self._ee_site].copy()

    def ee_jacobian(self) -> np.ndarray:
        """Positional Jacobian [3, 7] of the end effector w.r.t. the arm joints at the current state."""
        jacp = np.zeros((3, self.model.nv))
        mujoco.mj_jacSite(self.model, self.data, jacp, None, self._ee_site)
        return jacp[:, self._arm_dadr]

    def reach_action(self, target: np.ndarray) -> np.ndarray:
        """Scripted arm action [7] moving the end effector towards `target` (damped least-squares IK)."""
        jac = self.ee_jacobian()  # [3, 7]
        err = np.clip(np.asarray(target) - self.ee_pos, -0.1, 0.1)
        dq = jac.T @ np.linalg.solve(jac @ jac.T + 0.05**2 * np.eye(3), err)
        return np.clip(dq / self.control.max_joint_step_rad, -1.0, 1.0)

    def sample_workspace_point(self, rng: np.random.Generator) -> np.ndarray:
        """A random point in the reach workspace box."""
        return rng.uniform(WORKSPACE_LOW, WORKSPACE_HIGH)

    @property
    def tolerance_m(self) -> float:
        """Success radius of the task, metres."""
        return self.task.tolerance_m

    @property
    def arm_qpos(self) -> np.ndarray:
        return self.data.qpos[self._arm_qadr].copy()

    @property
    def joint_targets(self) -> np.ndarray:
        """Current commanded arm joint targets [7]."""
        return self._targets.copy()

    @property
    def cube_pos(self) -> np.ndarray:
        return self.data.qpos[self._cube_qadr : self._cube_qadr + 3].copy()

    @property
    def ee_pos(self) -> np.ndarray:
        return self.data.site_xpos[self._ee_site].copy()

    # ----------------------------------------------------------------------------------------------- render
    def render_goal(self, size: int | None = None, height: int | None = None) -> np.ndarray:
        """The goal scene rendered at `size` (default: the observation size), or at size x height as the camera
        publishes it (render_camera)."""
        self._set_scene(self._fk_data, self.goal_arm_qpos, self._goal_cube_pos)
        return self._render_at(self._fk_data, size, height)

    # ----------------------------------------------------------------------------------------------- API
    def _obs(self) -> dict[str, np.ndarray]:
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self._ee_site])
        return {
            "image": self._render(self.data),
            "joint_pos": self.data.qpos[self._obs_qadr].astype(np.float32),
            "joint_vel": self.data.qvel[self._obs_dadr].astype(np.float32),
            "ee_pos": self.ee_pos.astype(np.float32),
            "ee_quat": quat.astype(np.float32),
            "goal_pos": self.goal_pos.astype(np.float32),
        }

    def _info(self) -> dict:
        distance = self.task.distance(self.ee_pos, self.cube_pos, self.goal_pos)
        return {"success": bool(distance <= self.tolerance_m), "distance": distance,
                "cube_pos": self.cube_pos, "joint_targets": self.joint_targets}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        setup = self.task.sample(self.np_random, self.forward_kinematics, (self.joint_lower, self.joint_upper))
        self.goal_pos = setup.goal_pos.astype(np.float64)
        self.goal_arm_qpos = setup.goal_arm_qpos
        self._goal_cube_pos = setup.goal_cube_pos
        self.goal_image = self.render_goal()
        self._set_scene(self.data, setup.arm_qpos, setup.cube_pos)
        self._targets = setup.arm_qpos.copy()
        self.data.ctrl[:ARM_DOF] = self._targets
        self.data.ctrl[ARM_DOF:] = GRIPPER_OPEN
        info = self._info()
        info.update(goal_image=self.goal_image, goal_arm_qpos=self.goal_arm_qpos.copy(),
                    goal_joint_pos=np.r_[self.goal_arm_qpos, GRIPPER_OPEN, GRIPPER_OPEN].astype(np.float32))
        return self._obs(), info

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (ACTION_DIM,):
            raise ValueError(f"action must have shape ({ACTION_DIM},), got {action.shape}")
        targets = next_joint_targets(self._targets, action, self.joint_lower, self.joint_upper, self.control)
        return self.step_to_targets(targets, gripper_opening(action, self.control, ARM_DOF))

    def step_to_targets(self, arm_targets: np.ndarray, gripper_m: float = GRIPPER_OPEN):
        """One control period towards absolute joint targets [7] (clipped to the joint limits), like a position
        controller does; the ROS sim bridge drives the arm through this. Non-finite targets hold the old ones."""
        arm_targets = np.asarray(arm_targets, dtype=np.float64)
        if arm_targets.shape != (ARM_DOF,):
            raise ValueError(f"arm_targets must have shape ({ARM_DOF},), got {arm_targets.shape}")
        if np.all(np.isfinite(arm_targets)):
            self._targets = np.clip(arm_targets, self.joint_lower, self.joint_upper)
        self.data.ctrl[:ARM_DOF] = self._targets
        self.data.ctrl[ARM_DOF:] = float(np.clip(np.nan_to_num(gripper_m, nan=GRIPPER_OPEN), 0.0, GRIPPER_OPEN))
        mujoco.mj_step(self.model, self.data, nstep=self.control.n_substeps)
        info = self._info()
        return self._obs(), -info["distance"], False, False, info



class PandaReachEnv(PandaArmEnv):
    """`jepa_mpc/PandaReach-v0`: bring the end effector to a goal position (goal image = arm at the goal)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(task="reach", **kwargs)


PUSH_CAMERA = CameraConfig(pos=(1.25, 0.0, 0.8), lookat=(0.5, 0.0, 0.05))
"""Push's default camera: nearer the table and facing the arm. In the front camera the 5 cm cube covers about
2 x 2 pixels of a 64 px frame and a world model's latent did not keep its position (probe error 8 cm, close to
the 10 cm of guessing the mean); here it covers about 4 x 4."""


class PandaPushEnv(PandaArmEnv):
    """`jepa_mpc/PandaPush-v1`: push the cube to a goal position on the table (goal image = cube at the goal),
    seen by `PUSH_CAMERA` unless a camera is given (v0 used the front camera)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("camera", PUSH_CAMERA)
        super().__init__(task="push", **kwargs)
