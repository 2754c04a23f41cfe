"""The MuJoCo simulator itself as a WorldModelLike: the model of the `sim-mpc` baseline (an upper bound).

The latent z [D] is the true simulator state, laid out as
    [ w_ee * s * ee_pos (3) | w_cube * s * cube_pos (3) | eps * qpos (nq) | eps * qvel (nv) | eps * ctrl (nu) ]
with s = sqrt(D) / length_scale_m, so the planner's l2 goal energy, mean_D (z - z_goal)^2, equals
(w_ee^2 |d ee|^2 + w_cube^2 |d cube|^2) / length_scale_m^2: a distance to the goal in task space. The physics
block (everything needed to continue simulating) is scaled by a tiny eps so it barely touches the goal energy;
`rollout` unscales it and steps the real physics, batched over samples with `mujoco.rollout`.

Pixels do not determine the physics state, so `encode` cannot work from the image: the caller hands the model the
simulator's state (privileged, as an upper bound may be) with `set_state(data)` before each `encode`, and gets the
goal latent from the env's goal scene with `goal_latent(env)`. `encode` without a fresh `set_state` raises.
"""
from __future__ import annotations

import dataclasses
import math

import mujoco
import mujoco.rollout
import numpy as np
import torch

from jepa_mpc.robots.panda import ACTION_DIM
from jepa_mpc.robots.panda import DOF as ARM_DOF
from jepa_mpc.sim.panda_scene import CUBE_BODY, EE_SITE, GRIPPER_OPEN, scene_xml

_FULLPHYSICS = mujoco.mjtState.mjSTATE_FULLPHYSICS  # time, qpos, qvel (this scene has no act or plugins)


@dataclasses.dataclass(frozen=True)
class SimModelConfig:
    """Weights of the latent's task and physics blocks, and how the rollout treats the gripper."""

    length_scale_m: float = 0.05
    """Task distance at which the l2 goal energy is 1 (the success tolerance)."""
    reach_weights: tuple[float, float] = (1.0, 0.3)
    """(end effector, cube) weights on Reach: the EE dominates; knocking the cube costs a little."""
    push_weights: tuple[float, float] = (0.1, 1.0)
    """(end effector, cube) weights on Push: the cube dominates; a small pull of the EE to the goal scene's."""
    state_weight: float = 1e-3
    """eps: scale of the physics block (qpos, qvel, ctrl) in the latent."""
    fixed_gripper_m: float | None = None
    """None: the gripper follows action[7] like env.step; a number: per-finger opening held whatever action[7]
    says (eval's MPC commands go through env.step_to_targets, which keeps the gripper open)."""
    threads: int = 1
    """Threads of mujoco.rollout (one MjData each)."""

    def __post_init__(self) -> None:
        values = (self.length_scale_m, self.state_weight, *self.reach_weights, *self.push_weights)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ValueError(f"SimModelConfig weights must be finite numbers, got {self}")
        if self.length_scale_m <= 0 or self.state_weight <= 0:
            raise ValueError("SimModelConfig.length_scale_m and state_weight must be > 0")
        if len(self.reach_weights) != 2 or len(self.push_weights) != 2:
            raise ValueError("SimModelConfig task weights are (ee, cube) pairs")
        if self.fixed_gripper_m is not None and not 0.0 <= self.fixed_gripper_m <= GRIPPER_OPEN:
            raise ValueError(f"fixed_gripper_m must be in [0, {GRIPPER_OPEN}] or None, got {self.fixed_gripper_m}")
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"SimModelConfig.threads must be an int >= 1, got {self.threads!r}")


def _readout_model(env) -> mujoco.MjModel:
    """The env's scene compiled again with one frame-position sensor on the EE site (sensors do not change the
    physics). Like env.ee_pos after mj_step, the sensor holds the kinematics computed at the last substep's start."""
    spec = mujoco.MjSpec.from_string(scene_xml(env.camera, max(512, env.image_size)))
    spec.add_sensor(name="sim_model_ee", type=mujoco.mjtSensor.mjSENS_FRAMEPOS,
                    objtype=mujoco.mjtObj.mjOBJ_SITE, objname=EE_SITE)
    model = spec.compile()
    model.opt.timestep = env.model.opt.timestep
    same = (model.nq, model.nv, model.nu, model.na) == (env.model.nq, env.model.nv, env.model.nu, env.model.na)
    if not same or model.nsensordata != 3:
        raise RuntimeError("the simulator model's scene does not match the env's")
    return model


class SimulatorWorldModel:
    """Satisfies planner.protocols.WorldModelLike with the true physics of a PandaArmEnv (Reach or Push)."""

    action_dim = ACTION_DIM

    def __init__(self, env, cfg: SimModelConfig = SimModelConfig()) -> None:
        from jepa_mpc.sim.panda_env import PandaArmEnv

        task = getattr(getattr(env, "task", None), "name", None)
        if task not in ("reach", "push") or not isinstance(env, PandaArmEnv):
            raise ValueError(f"the simulator model supports the Panda Reach and Push envs, not {type(env).__name__}")
        self.sim_cfg, self.env, self.task = cfg, env, task
        self.model = _readout_model(env)
        self._datas = [mujoco.MjData(self.model) for _ in range(cfg.threads)]
        self.control = env.control
        self.lower, self.upper = np.asarray(env.joint_lower), np.asarray(env.joint_upper)
        m = self.model
        self._cube_qadr = int(m.joint(m.body(CUBE_BODY).jntadr[0]).qposadr[0])
        self.nq, self.nv, self.nu = m.nq, m.nv, m.nu
        self.latent_dim = 6 + m.nq + m.nv + m.nu
        w_ee, w_cube = cfg.reach_weights if task == "reach" else cfg.push_weights
        s = math.sqrt(self.latent_dim) / cfg.length_scale_m
        eps = cfg.state_weight
        self._scale = np.r_[np.full(3, w_ee * s), np.full(3, w_cube * s), np.full(m.nq + m.nv + m.nu, eps)]
        self._state: np.ndarray | None = None  # latent of the last set_state, consumed by encode

    # ------------------------------------------------------------------------------------------ latents
    def _pack(self, ee: np.ndarray, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray) -> np.ndarray:
        """Unscaled parts [..., *] -> scaled latent [..., D]."""
        cube = qpos[..., self._cube_qadr : self._cube_qadr + 3]
        return np.concatenate([ee, cube, qpos, qvel, ctrl], axis=-1) * self._scale

    def cube_position(self, z: torch.Tensor) -> torch.Tensor:
        """The cube's centre [N, 3] read from latents [N, D] (the cube-push cost's probe, exact here)."""
        return z[:, 3:6] / float(self._scale[3])

    def _unpack(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scaled latent [B, D] -> (qpos [B, nq], qvel [B, nv], ctrl [B, nu]), unscaled."""
        phys = z[:, 6:] / self._scale[6:]
        return phys[:, : self.nq], phys[:, self.nq : self.nq + self.nv], phys[:, self.nq + self.nv :]

    def latent_of(self, data: mujoco.MjData) -> np.ndarray:
        """Latent [D] (float64) of a simulator state of this scene (its ctrl holds the current joint targets)."""
        ee = data.site_xpos[self.model.site(EE_SITE).id]
        return self._pack(ee.copy(), data.qpos.copy(), data.qvel.copy(), data.ctrl.copy())

    def set_state(self, data: mujoco.MjData) -> None:
        """Privileged observation: the next `encode` returns this state's latent (then it is forgotten)."""
        self._state = self.latent_of(data)

    def goal_latent(self, env=None, pose_only: bool = False) -> torch.Tensor:
        """Goal latent [D]. Image goal: the true state of the env's goal scene (what its goal image shows: the goal
        arm pose and cube, at rest). pose_only: the current state with only the task's goal position put in (the
        EE for Reach, the cube for Push), for goals given as a position."""
        env = env if env is not None else self.env
        if pose_only:
            z = self.latent_of(env.data)
            block = slice(0, 3) if self.task == "reach" else slice(3, 6)
            z[block] = np.asarray(env.goal_pos) * self._scale[block]
        else:
            data = mujoco.MjData(self.model)
            env._set_scene(data, env.goal_arm_qpos, env._goal_cube_pos)  # the scene render_goal draws
            data.ctrl[:ARM_DOF] = env.goal_arm_qpos
            data.ctrl[ARM_DOF:] = GRIPPER_OPEN
            z = self.latent_of(data)
        return torch.as_tensor(z, dtype=torch.float32)

    def encode(self, image: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """The latent [1, D] of the state given to `set_state` (image and proprio are ignored)."""
        if self._state is None:
            raise RuntimeError("SimulatorWorldModel.encode needs the simulator state: call set_state(env.data) "
                               "before each encode (pixels do not determine the physics state)")
        if image.shape[0] != 1:
            raise ValueError(f"SimulatorWorldModel.encode takes one observation, got a batch of {image.shape[0]}")
        z, self._state = self._state, None
        return torch.as_tensor(z, dtype=torch.float32, device=image.device)[None]

    # ------------------------------------------------------------------------------------------ rollout
    def controls(self, ctrl0: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """ctrl0 [B, nu], actions [B, H, A] -> ctrl per control step [B, H, nu], with env.step's semantics:
        targets = clip(targets + clip(a[:7]) * max_joint_step_rad, limits), fingers from a[7] (or fixed)."""
        b, horizon = actions.shape[:2]
        a = np.nan_to_num(np.clip(actions, -1.0, 1.0), nan=0.0)  # non-finite joint steps count as no motion
        ctrl = np.empty((b, horizon, self.nu))
        targets = ctrl0[:, :ARM_DOF]
        for t in range(horizon):  # sequential because of the clip at the joint limits; vectorised over B
            targets = np.clip(targets + a[:, t, :ARM_DOF] * self.control.max_joint_step_rad, self.lower, self.upper)
            ctrl[:, t, :ARM_DOF] = targets
        if self.sim_cfg.fixed_gripper_m is not None:
            ctrl[:, :, ARM_DOF:] = self.sim_cfg.fixed_gripper_m
        else:
            g = np.where(np.isfinite(actions[:, :, ARM_DOF]), a[:, :, ARM_DOF], 1.0)  # non-finite: keep open
            ctrl[:, :, ARM_DOF:] = (0.5 * (g + 1.0) * self.control.gripper_max_m)[..., None]
        return ctrl

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """z0 [B, D], actions [B, H, A] -> latents after each control step [B, H, D] (true physics, open loop)."""
        z = z0.detach().to("cpu", torch.float64).numpy()
        a = actions.detach().to("cpu", torch.float64).numpy()
        b, horizon = a.shape[:2]
        qpos, qvel, ctrl0 = self._unpack(z)
        ctrl = self.controls(ctrl0, a)  # [B, H, nu]
        n = self.control.n_substeps
        state0 = np.concatenate([np.zeros((b, 1)), qpos, qvel], axis=1)  # [B, nstate]: time, qpos, qvel
        state, sensors = mujoco.rollout.rollout(
            self.model, self._datas if len(self._datas) > 1 else self._datas[0], state0,
            np.repeat(ctrl, n, axis=1),  # [B, H * n, nu]: ctrl held over a control period's substeps
            control_spec=mujoco.mjtState.mjSTATE_CTRL, nstep=horizon * n,
            initial_warmstart=np.zeros((1, self.nv)))  # no leftover warm start from another sample
        last = np.arange(1, horizon + 1) * n - 1  # the last substep of each control period
        s = state[:, last]  # [B, H, nstate]
        out = self._pack(sensors[:, last], s[..., 1 : 1 + self.nq], s[..., 1 + self.nq :], ctrl)
        return torch.as_tensor(out, dtype=z0.dtype, device=z0.device)

    def ee_positions(self, z: torch.Tensor) -> torch.Tensor:
        """End-effector positions [..., 3] read back from latents [..., D] (metres)."""
        return z[..., :3] / torch.as_tensor(self._scale[:3], dtype=z.dtype, device=z.device)

    def cube_positions(self, z: torch.Tensor) -> torch.Tensor:
        """Cube positions [..., 3] read back from latents [..., D] (metres)."""
        return z[..., 3:6] / torch.as_tensor(self._scale[3:6], dtype=z.dtype, device=z.device)
