"""`jepa_mpc/ArmReach-v0`: the reach task for any arm (a Robot from a URDF / MJCF) in the arm cell.

Same interface as the Panda environments (sim/panda_env.py) where it applies, so eval, collection and the ROS sim
bridge drive either. Observation (dict): image uint8 [S,S,3] from the cell's fixed camera; joint_pos / joint_vel
[J] float32 (arm joints only, model convention, the Robot's order); ee_pos [3] and ee_quat [4] (wxyz) of the tool
point / tool frame; goal_pos [3]. Action: [J] in [-1, 1], joint-target deltas scaled by
`ArmControlConfig.max_joint_step_rad` (robots/arm_control.py); there is no gripper entry. The goal is a position
(`goal_pos`) and an image (`info["goal_image"]` at reset, also `env.unwrapped.goal_image`) of the arm at the goal
configuration (`info["goal_joint_pos"]` [J], laid out like joint_pos). A continuing task: `terminated` is always
False, the TimeLimit (60 steps) ends episodes, `info["success"]` tells whether the goal is met, and the reward is
minus the distance in metres. Goal distribution and workspace box: sim/arm_reach_task.py.

    env = gymnasium.make("jepa_mpc/ArmReach-v0", robot="robosuite:ur5e")
"""
from __future__ import annotations

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces

from jepa_mpc.robots import Robot, RobotConfig, load_robot
from jepa_mpc.robots.arm_control import ArmControlConfig, next_joint_targets
from jepa_mpc.robots.ik import dls_step, tool_jacobian
from jepa_mpc.sim.arm_cell import ArmCell, build_arm_cell
from jepa_mpc.sim.arm_reach_task import ArmReachTask, Workspace
from jepa_mpc.sim.panda_scene import CameraConfig
from jepa_mpc.sim.rendering import CameraRendering


class ArmReachEnv(CameraRendering, gymnasium.Env):
    """Any arm on a table, driven by bounded joint-position deltas, observed by one fixed camera."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, robot: str | RobotConfig | Robot = "panda", image_size: int = 64,
                 camera: CameraConfig | None = None, control: ArmControlConfig | None = None,
                 render_mode: str | None = None, task_kwargs: dict | None = None) -> None:
        if not isinstance(image_size, int) or isinstance(image_size, bool) or not 16 <= image_size <= 512:
            raise ValueError(f"image_size must be an int in [16, 512], got {image_size!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.robot: Robot = load_robot(robot)
        self.task = ArmReachTask(**(task_kwargs or {}))
        self.image_size = image_size
        self.control = control or ArmControlConfig()
        self.render_mode = render_mode
        self.cell: ArmCell = build_arm_cell(self.robot, camera, max_render_size=max(512, image_size))
        self.camera = self.cell.camera
        self.model = self.cell.model
        self.model.opt.timestep = self.control.physics_dt_s
        self.data = mujoco.MjData(self.model)
        self._fk_data = mujoco.MjData(self.model)  # scratch state for goal sampling / goal images
        self.dof = self.robot.dof
        self.joint_lower, self.joint_upper = self.robot.lower.copy(), self.robot.upper.copy()
        self.workspace = Workspace.for_reach(self.cell.base_pos, self.cell.forward, self.cell.left,
                                             self.robot.reach_m)
        checked = [p for p in self.robot.spheres if p.table_check]
        self._check_frames = [self._frame(p.frame) for p in checked]
        self._check_offsets = np.array([p.offset for p in checked], dtype=np.float64).reshape(-1, 3)
        self._check_radii = np.array([p.radius for p in checked], dtype=np.float64)
        self._renderer = None
        self.camera_name = self.cell.camera_name
        self._targets = self.robot.home.copy()
        self.goal_pos = np.zeros(3)
        self.goal_arm_qpos = self.robot.home.copy()
        self.goal_image = np.zeros((image_size, image_size, 3), np.uint8)

        lo, hi = self.joint_lower.astype(np.float32), self.joint_upper.astype(np.float32)
        extent = float(self.robot.reach_m + 1.0)
        base = self.cell.base_pos.astype(np.float32)
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
            # small margin: joints may sit marginally outside their range under contact
            "joint_pos": spaces.Box(lo - 0.05, hi + 0.05, (self.dof,), np.float32),
            "joint_vel": spaces.Box(-100.0, 100.0, (self.dof,), np.float32),
            "ee_pos": spaces.Box(base - extent, base + extent, (3,), np.float32),
            "ee_quat": spaces.Box(-1.0, 1.0, (4,), np.float32),
            "goal_pos": spaces.Box(base - extent, base + extent, (3,), np.float32),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (self.dof,), np.float32)

    # ----------------------------------------------------------------------------------------------- state
    def _frame(self, name: str) -> tuple[bool, int]:
        site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, name)
        return (True, site) if site >= 0 else (False, self.model.body(name).id)

    def _set_scene(self, data: mujoco.MjData, arm_q: np.ndarray, cube_pos: np.ndarray | None = None) -> None:
        """Arm at arm_q, other joints at their reference, at rest (`cube_pos` ignored: no cube here)."""
        data.qpos[:] = self.model.qpos0
        data.qpos[self.cell.arm_qpos_adr] = arm_q
        data.qvel[:] = 0.0
        data.mocap_pos[self.cell.goal_mocap] = self.goal_pos
        mujoco.mj_forward(self.model, data)

    def show_arm(self, arm_q: np.ndarray) -> dict:
        """Put the arm at arm_q (model convention), at rest, and return the task's info there: how a checker that
        reads another simulator only through its joint states mirrors it (jepa-mpc eval --through-ros)."""
        self._set_scene(self.data, np.asarray(arm_q, dtype=np.float64))
        return self._info()

    def _kinematics(self, arm_q: np.ndarray) -> mujoco.MjData:
        self._fk_data.qpos[:] = self.model.qpos0
        self._fk_data.qpos[self.cell.arm_qpos_adr] = arm_q
        mujoco.mj_kinematics(self.model, self._fk_data)
        return self._fk_data

    def forward_kinematics(self, arm_q: np.ndarray) -> np.ndarray:
        """Tool point [3] (world) for arm joint positions [J], from the simulator's own kinematics."""
        return self.cell.tool_pose(self._kinematics(np.asarray(arm_q, dtype=np.float64)))[0]

    def check_point_positions(self, arm_q: np.ndarray) -> np.ndarray:
        """World centres [P, 3] of the table-checked check spheres at arm_q."""
        data = self._kinematics(np.asarray(arm_q, dtype=np.float64))
        out = np.empty((len(self._check_frames), 3))
        for i, (is_site, idx) in enumerate(self._check_frames):
            pos, mat = (data.site_xpos[idx], data.site_xmat[idx]) if is_site else (data.xpos[idx], data.xmat[idx])
            out[i] = pos + mat.reshape(3, 3) @ self._check_offsets[i]
        return out

    def table_clearance(self, arm_q: np.ndarray) -> float:
        """Smallest gap (m) between a table-checked check sphere and the table top at arm_q (negative: inside)."""
        if not len(self._check_radii):
            return float("inf")
        centres = self.check_point_positions(arm_q)
        return float(np.min(centres[:, 2] - self._check_radii - self.cell.table_top_z))

    def ee_jacobian(self) -> np.ndarray:
        """Positional Jacobian [3, J] of the tool point w.r.t. the arm joints at the current state."""
        return tool_jacobian(self.robot, self.data)

    def reach_action(self, target: np.ndarray) -> np.ndarray:
        """Scripted arm action [J] moving the tool point towards `target` (damped least-squares IK step)."""
        dq = dls_step(self.robot, self.arm_qpos, np.asarray(target, dtype=np.float64))
        return np.clip(dq / self.control.max_joint_step_rad, -1.0, 1.0)

    def sample_workspace_point(self, rng: np.random.Generator) -> np.ndarray:
        """A random point in the reach workspace box (sim/arm_reach_task.py)."""
        return self.workspace.sample(rng)

    @property
    def tolerance_m(self) -> float:
        """Success radius of the task, metres."""
        return self.task.tolerance_m

    @property
    def arm_qpos(self) -> np.ndarray:
        return self.data.qpos[self.cell.arm_qpos_adr].copy()

    @property
    def joint_targets(self) -> np.ndarray:
        """Current commanded arm joint targets [J]."""
        return self._targets.copy()

    @property
    def ee_pos(self) -> np.ndarray:
        return self.cell.tool_pose(self.data)[0]

    # ----------------------------------------------------------------------------------------------- render
    def render_goal(self, size: int | None = None, height: int | None = None) -> np.ndarray:
        """The arm at the goal configuration, rendered at `size` (default: the observation size), or at size x
        height as the camera publishes it (render_camera)."""
        self._set_scene(self._fk_data, self.goal_arm_qpos)
        return self._render_at(self._fk_data, size, height)

    # ----------------------------------------------------------------------------------------------- API
    def _obs(self) -> dict[str, np.ndarray]:
        pos, mat = self.cell.tool_pose(self.data)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, mat.reshape(-1))
        return {
            "image": self._render(self.data),
            "joint_pos": self.data.qpos[self.cell.arm_qpos_adr].astype(np.float32),
            "joint_vel": self.data.qvel[self.cell.arm_dof_adr].astype(np.float32),
            "ee_pos": pos.astype(np.float32),
            "ee_quat": quat.astype(np.float32),
            "goal_pos": self.goal_pos.astype(np.float32),
        }

    def _info(self) -> dict:
        distance = self.task.distance(self.ee_pos, self.goal_pos)
        return {"success": bool(distance <= self.tolerance_m), "distance": distance,
                "joint_targets": self.joint_targets}

    def _apply_ctrl(self) -> None:
        self.data.ctrl[self.cell.arm_actuators] = self._targets
        self.data.ctrl[self.cell.aux_actuators] = self.cell.aux_reference

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        setup = self.task.sample(self.np_random, self.robot.home, (self.joint_lower, self.joint_upper),
                                 self.forward_kinematics, self.table_clearance, self.workspace)
        self.goal_pos = setup.goal_pos.astype(np.float64)
        self.goal_arm_qpos = setup.goal_arm_qpos.copy()
        self.goal_image = self.render_goal()
        self._set_scene(self.data, setup.arm_qpos)
        self._targets = setup.arm_qpos.copy()
        self._apply_ctrl()
        info = self._info()
        info.update(goal_image=self.goal_image, goal_arm_qpos=self.goal_arm_qpos.copy(),
                    goal_joint_pos=self.goal_arm_qpos.astype(np.float32))
        return self._obs(), info

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (self.dof,):
            raise ValueError(f"action must have shape ({self.dof},), got {action.shape}")
        return self.step_to_targets(next_joint_targets(self._targets, action, self.joint_lower, self.joint_upper,
                                                       self.control))

    def step_to_targets(self, arm_targets: np.ndarray, gripper_m: float | None = None):
        """One control period towards absolute joint targets [J] (clipped to the joint limits), as a position
        controller does; the ROS sim bridge drives the arm through this. Non-finite targets hold the old ones.
        `gripper_m` is accepted for the Panda envs' signature and ignored (fingers hold their reference)."""
        arm_targets = np.asarray(arm_targets, dtype=np.float64)
        if arm_targets.shape != (self.dof,):
            raise ValueError(f"arm_targets must have shape ({self.dof},), got {arm_targets.shape}")
        if np.all(np.isfinite(arm_targets)):
            self._targets = np.clip(arm_targets, self.joint_lower, self.joint_upper)
        self._apply_ctrl()
        mujoco.mj_step(self.model, self.data, nstep=self.control.n_substeps)
        info = self._info()
        return self._obs(), -info["distance"], False, False, info



__all__ = ["ArmReachEnv"]
