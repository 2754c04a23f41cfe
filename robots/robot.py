"""`Robot`: one arm built from its description, the object guardrails, safety filter, planner, IK, sim and nodes
all read. `load_robot(RobotConfig(...))` or `load_robot("robosuite:ur5e")`.

Conventions: joint vectors are in the description's ("model") convention and the description's arm-joint order;
`to_driver` / `from_driver` convert at the ROS boundary (driver = model + joint_offsets). Positions are in the
world frame of the cell: the description's root stands at `base_pos`, turned by `base_rpy`.
The arm joints are the movable joints on the path from the root to the tool frame; every other joint (fingers)
is held at its reference value for kinematics, and the check spheres of the bodies it moves cover its whole range.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import mujoco
import numpy as np

from jepa_mpc.robots import cache, presets
from jepa_mpc.robots.check_points import CheckPoint
from jepa_mpc.robots.description import Description, load_description
from jepa_mpc.robots.errors import RobotDescriptionError
from jepa_mpc.robots.spheres import fit_spheres

DEFAULT_MAX_VELOCITY_RAD_S = 1.0
"""Joint speed limit for descriptions that give none (MJCF has no field for it); above what one action step can
command at the default 10 Hz (0.5 rad/s), so it only binds on faster settings. Set max_joint_velocity_rad_s."""
DEFAULT_MAX_ACC_RAD_S2 = 10.0
"""Joint acceleration limit for descriptions that give none (neither URDF nor MJCF does)."""
TOOL_POINT = "ee"
"""Name of the tool point among the check points (workspace box, speed zones, pose goals)."""


def _tuple(owner: str, name: str, value: object, length: int | None = None) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{owner}.{name} must be numbers, got {value!r}") from None
    if not all(math.isfinite(v) for v in out) or (length is not None and len(out) != length):
        raise ValueError(f"{owner}.{name} must be {length or 'some'} finite numbers, got {value!r}")
    return out


@dataclasses.dataclass(frozen=True)
class RobotConfig:
    """Which arm, and what its description does not say. Empty tuples / strings mean: the description's (or the
    named preset's) value."""

    description: str = "panda"
    """`panda` (embedded), `robosuite:NAME`, `pybullet_data:PATH`, a URDF/MJCF file path, or URDF/MJCF text
    (e.g. the /robot_description that robot_state_publisher serves)."""
    tool_frame: str = ""
    """Body or site whose origin (plus tool_offset) is the end effector; '' = the last link."""
    tool_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    joint_names: tuple[str, ...] = ()
    """Driver (ROS) names of the arm joints in the description's order; () = the description's names."""
    joint_offsets: tuple[float, ...] = ()
    """Per arm joint, driver = model + offset (rad or m); () = zeros (or the preset's, e.g. the FR3 wrist)."""
    base_pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    base_rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Base orientation, roll-pitch-yaw (rad, fixed axes x then y then z)."""
    sphere_margin_m: float = 0.01
    """Added to every fitted check sphere's radius."""
    max_joint_velocity_rad_s: tuple[float, ...] = ()
    max_joint_acc_rad_s2: tuple[float, ...] = ()
    home: tuple[float, ...] = ()
    """Home joint positions (model convention); () = the preset's, else found by IK in front of the base."""
    package_map: tuple[str, ...] = ()
    """`NAME=FOLDER` entries for package:// URIs (searched after AMENT_PREFIX_PATH and ROS_PACKAGE_PATH)."""

    def __post_init__(self) -> None:
        owner = "RobotConfig"
        if not isinstance(self.description, str) or not self.description.strip():
            raise ValueError(f"{owner}.description must name a robot, a file or hold XML, got {self.description!r}")
        _tuple(owner, "tool_offset", self.tool_offset, 3)
        _tuple(owner, "base_pos", self.base_pos, 3)
        _tuple(owner, "base_rpy", self.base_rpy, 3)
        for name in ("joint_offsets", "max_joint_velocity_rad_s", "max_joint_acc_rad_s2", "home"):
            _tuple(owner, name, getattr(self, name))
        for name in ("max_joint_velocity_rad_s", "max_joint_acc_rad_s2"):
            if any(v <= 0 for v in getattr(self, name)):
                raise ValueError(f"{owner}.{name} must be positive, got {getattr(self, name)!r}")
        if isinstance(self.sphere_margin_m, bool) or not isinstance(self.sphere_margin_m, (int, float)) \
                or not math.isfinite(self.sphere_margin_m) or self.sphere_margin_m < 0:
            raise ValueError(f"{owner}.sphere_margin_m must be a finite number >= 0, got {self.sphere_margin_m!r}")
        if any("=" not in entry for entry in self.package_map):
            raise ValueError(f"{owner}.package_map entries must be NAME=FOLDER, got {self.package_map!r}")

    def label(self) -> str:
        """A short name for logs: the preset name, the file name, or 'robot_description'."""
        text = self.description.strip()
        return "robot_description" if text.startswith("<") else text


def _rpy_quat(rpy: tuple[float, float, float]) -> np.ndarray:
    """Roll-pitch-yaw (fixed x, y, z) -> MuJoCo quaternion (w, x, y, z), as URDF's origin rpy."""
    quat = np.zeros(4)
    mujoco.mju_euler2Quat(quat, np.asarray(rpy, dtype=np.float64), "XYZ")
    return quat


def _vec(values: tuple[float, ...], preset: tuple[float, ...], length: int, what: str, fill: float | None,
         where: str) -> np.ndarray:
    chosen = values or preset
    if not chosen:
        if fill is None:
            raise RobotDescriptionError(f"{where}: no {what}")
        return np.full(length, fill)
    if len(chosen) != length:
        raise RobotDescriptionError(f"{where}: {what} has {len(chosen)} values for {length} arm joints")
    return np.asarray(chosen, dtype=np.float64)


class Robot:
    """An arm: joints, limits, kinematics, base pose, tool frame, joint offsets and check spheres.

    Build with load_robot (cached per config: a Robot is never mutated after construction)."""

    def __init__(self, cfg: RobotConfig) -> None:
        self.cfg = cfg
        preset = presets.resolve(cfg.description)
        self._package_map = dict(entry.split("=", 1) for entry in cfg.package_map)
        self.description: Description = load_description(preset.source, self._package_map)
        where = self.description.source
        self.name = self.description.name if cfg.description.strip().startswith("<") else cfg.label()
        self._preset = preset
        try:
            self.model = self._placed(self.description.spec).compile()
        except ValueError as exc:  # a URDF is first compiled here (e.g. a moving link without mass)
            raise RobotDescriptionError(f"{where}: MuJoCo cannot compile this description: {exc}") from None
        m = self.model

        # Tool frame and the arm joints on the path root -> tool.
        tool_frame = cfg.tool_frame or preset.tool_frame or m.body(self._last_link(m)).name
        site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, tool_frame)
        tool_body = int(m.site_bodyid[site]) if site >= 0 else mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY,
                                                                                  tool_frame)
        if tool_body < 0:
            bodies = [m.body(b).name for b in range(1, m.nbody)]
            raise RobotDescriptionError(f"{where}: tool frame {tool_frame!r} is neither a body nor a site; "
                                        f"bodies: {bodies}")
        path, body = [], tool_body
        while body != 0:
            path.append(body)
            body = int(m.body_parentid[body])
        path.reverse()
        arm = []
        for body in path:
            for j in range(m.body_jntadr[body], m.body_jntadr[body] + m.body_jntnum[body]):
                kind = m.jnt_type[j]
                if kind in (mujoco.mjtJoint.mjJNT_FREE, mujoco.mjtJoint.mjJNT_BALL):
                    raise RobotDescriptionError(
                        f"{where}: joint {m.joint(j).name!r} on the way to the tool is a "
                        f"{'floating base' if kind == mujoco.mjtJoint.mjJNT_FREE else 'ball joint'}; "
                        "an arm needs hinge (revolute) or slide (prismatic) joints fixed to the world")
                arm.append(j)
        if not arm:
            raise RobotDescriptionError(f"{where}: no movable joints between the base and the tool frame "
                                        f"{tool_frame!r}; is this an arm description?")
        self.model_joint_names = tuple(m.joint(j).name for j in arm)
        self.dof = len(arm)
        for j in arm:
            info = self.description.joints.get(m.joint(j).name)
            if not (m.jnt_limited[j] and m.jnt_range[j][0] < m.jnt_range[j][1]) or (info and not
                                                                                    info.has_position_limit):
                raise RobotDescriptionError(
                    f"{where}: arm joint {m.joint(j).name!r} has no position limits "
                    f"({info.kind if info else 'unlimited'}); give it <limit lower=.. upper=..> (URDF) or "
                    "range=\"lo hi\" (MJCF): the guardrails need every joint's range")
        self.qpos_adr = np.array([m.jnt_qposadr[j] for j in arm])
        self.dof_adr = np.array([m.jnt_dofadr[j] for j in arm])
        self.lower = np.array([m.jnt_range[j][0] for j in arm], dtype=np.float64)
        self.upper = np.array([m.jnt_range[j][1] for j in arm], dtype=np.float64)
        self.aux_joint_names = tuple(m.joint(j).name for j in range(m.njnt) if j not in arm)
        self.tool = CheckPoint(TOOL_POINT, tool_frame, tuple(cfg.tool_offset), 0.0)
        self.tool_body = tool_body
        """Id in `model` of the body that carries the tool frame (the site's body, or the frame itself)."""

        self.joint_names = tuple(cfg.joint_names or preset.joint_names or self.model_joint_names)
        if len(self.joint_names) != self.dof or len(set(self.joint_names)) != self.dof:
            raise RobotDescriptionError(f"{where}: joint_names {self.joint_names} must name the {self.dof} arm "
                                        f"joints {self.model_joint_names} once each, in that order")
        self.finger_joint_names = tuple(preset.finger_joint_names)
        self.joint_offsets = _vec(cfg.joint_offsets, preset.joint_offsets, self.dof, "joint_offsets", 0.0, where)
        velocities = [self.description.joints.get(n) for n in self.model_joint_names]
        described = tuple(v.velocity for v in velocities if v is not None and v.velocity)
        self.velocity_from_description = len(described) == self.dof
        self.max_velocity = _vec(cfg.max_joint_velocity_rad_s,
                                 preset.max_joint_velocity_rad_s or (described if self.velocity_from_description
                                                                     else ()),
                                 self.dof, "max_joint_velocity_rad_s", DEFAULT_MAX_VELOCITY_RAD_S, where)
        self.max_acceleration = _vec(cfg.max_joint_acc_rad_s2, preset.max_joint_acc_rad_s2, self.dof,
                                     "max_joint_acc_rad_s2", DEFAULT_MAX_ACC_RAD_S2, where)

        # Check spheres: each body's carrier is the nearest ancestor-or-self that only arm joints move.
        moved = self._moved_by_arm(m, arm)
        carrier_of: dict[int, int] = {}
        for b in range(1, m.nbody):
            c = b
            while c != 0 and not (c in moved and self._only_arm_above(m, c, set(arm))):
                c = int(m.body_parentid[c])
            if c != 0:
                carrier_of[b] = c
        fixed = self._fixed_height_bodies(m, arm)
        self.mount_bodies = frozenset(m.body(b).name for b in fixed)
        """Bodies no arm joint can lower (the base, a first link turning about a vertical axis): the mount."""

        def checked_spheres() -> list:
            return [[s.body, list(s.offset), s.radius, not (s.swept or m.body(s.body).id in fixed)]
                    for s in fit_spheres(m, carrier_of, m.qpos0.copy(), cfg.sphere_margin_m)]

        key = cache.model_key(m, sorted(carrier_of.items()), cfg.sphere_margin_m)
        self.spheres = tuple(CheckPoint(f"{body}/{i}", body, tuple(offset), radius, table_check=table)
                             for i, (body, offset, radius, table) in enumerate(cache.cached(key, checked_spheres)))
        if not self.spheres:
            raise RobotDescriptionError(f"{where}: no collision geometry on the moving links (the guardrails check "
                                        "every link's collision geometry)")
        self.check_points = (self.tool, *self.spheres)

        home = cfg.home or preset.home
        if home:
            self.home = _vec(tuple(home), (), self.dof, "home", None, where)
            if np.any(self.home < self.lower) or np.any(self.home > self.upper):
                raise RobotDescriptionError(f"{where}: home {self.home.tolist()} is outside the joint limits")
        else:
            from jepa_mpc.robots.home import find_home

            key = cache.model_key(m, self.model_joint_names, self.tool, [p.radius for p in self.spheres])
            self.home = np.asarray(cache.cached(key, lambda: find_home(self).tolist()), dtype=np.float64)

    # ---------------------------------------------------------------------------------------- building

    def build_spec(self) -> mujoco.MjSpec:
        """A fresh MjSpec of the arm standing at the base pose (the sim cell adds its scene to it)."""
        return self._placed(load_description(self._preset.source, self._package_map).spec)

    def _placed(self, spec: mujoco.MjSpec) -> mujoco.MjSpec:
        """spec with its root bodies moved into a frame at the base pose."""
        frame = spec.worldbody.add_frame(pos=list(self.cfg.base_pos), quat=list(_rpy_quat(self.cfg.base_rpy)))
        for body in list(spec.worldbody.bodies):
            body.set_frame(frame)
        return spec

    @staticmethod
    def _last_link(m: mujoco.MjModel) -> int:
        """The end of the longest chain of movable joints, then down through welded links while there is
        exactly one (a flange, a hand, a grasp point)."""
        def joints_above(b: int) -> int:
            n = 0
            while b != 0:
                n += int(m.body_jntnum[b] > 0 and m.jnt_type[m.body_jntadr[b]] in
                         (mujoco.mjtJoint.mjJNT_HINGE,))
                b = int(m.body_parentid[b])
            return n

        best = max(range(1, m.nbody), key=lambda b: (joints_above(b), -b))
        while True:
            welded = [c for c in range(1, m.nbody) if m.body_parentid[c] == best and m.body_jntnum[c] == 0]
            if len(welded) != 1:
                return best
            best = welded[0]

    @staticmethod
    def _moved_by_arm(m: mujoco.MjModel, arm: list[int]) -> set[int]:
        """Bodies below at least one arm joint."""
        out = set()
        for b in range(1, m.nbody):
            c = b
            while c != 0:
                if any(j in arm for j in range(m.body_jntadr[c], m.body_jntadr[c] + m.body_jntnum[c])):
                    out.add(b)
                    break
                c = int(m.body_parentid[c])
        return out

    @staticmethod
    def _only_arm_above(m: mujoco.MjModel, b: int, arm: set[int]) -> bool:
        """No joint other than an arm joint lies between the world and body b."""
        while b != 0:
            if any(j not in arm for j in range(m.body_jntadr[b], m.body_jntadr[b] + m.body_jntnum[b])):
                return False
            b = int(m.body_parentid[b])
        return True

    @staticmethod
    def _fixed_height_bodies(m: mujoco.MjModel, arm: list[int]) -> set[int]:
        """Bodies whose height no arm joint changes: above them only hinges about the world's vertical axis,
        starting from the base (a vertical hinge keeps every later vertical hinge vertical)."""
        data = mujoco.MjData(m)
        mujoco.mj_kinematics(m, data)
        out = set()
        for b in range(1, m.nbody):
            c, ok = b, True
            while c != 0 and ok:
                for j in range(m.body_jntadr[c], m.body_jntadr[c] + m.body_jntnum[c]):
                    axis = data.xaxis[j]
                    ok = ok and m.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE and abs(abs(axis[2]) - 1) < 1e-9
                c = int(m.body_parentid[c])
            if ok:
                out.add(b)
        return out

    # ----------------------------------------------------------------------------------------- queries

    def to_driver(self, q: np.ndarray) -> np.ndarray:
        """Model-convention joint positions [..., J] -> what the driver publishes and takes."""
        return np.asarray(q, dtype=np.float64) + self.joint_offsets

    def from_driver(self, q: np.ndarray) -> np.ndarray:
        """Driver joint positions [..., J] -> model convention."""
        return np.asarray(q, dtype=np.float64) - self.joint_offsets

    def kinematics(self, points: tuple[CheckPoint, ...] | None = None, device="cpu", dtype=None):
        """Batched torch FK of the check points (default: the tool point, then every sphere)."""
        import torch

        from jepa_mpc.robots.kinematics import ArmKinematics

        return ArmKinematics(self.model, points if points is not None else self.check_points,
                             self.model_joint_names, device=device, dtype=dtype or torch.float32)

    def data(self, q: np.ndarray | None = None) -> mujoco.MjData:
        """A fresh MjData with the arm at q (model convention; default home), kinematics computed."""
        data = mujoco.MjData(self.model)
        data.qpos[self.qpos_adr] = self.home if q is None else q
        mujoco.mj_kinematics(self.model, data)
        return data

    def tool_pose(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tool point position [3] and tool frame rotation [3, 3] (world) at q, from mj_kinematics."""
        data = self.data(q)
        site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, self.tool.frame)
        pos, mat = ((data.site_xpos[site], data.site_xmat[site]) if site >= 0 else
                    (data.xpos[self.model.body(self.tool.frame).id], data.xmat[self.model.body(self.tool.frame).id]))
        mat = mat.reshape(3, 3).copy()
        return pos + mat @ np.asarray(self.tool.offset), mat

    def tool_position(self, q: np.ndarray) -> np.ndarray:
        """Tool point position [3] (world) at q."""
        return self.tool_pose(q)[0]

    @functools.cached_property
    def forward(self) -> np.ndarray:
        """Unit horizontal vector [3] the base faces: its +x axis projected on the floor (+x world when that axis
        points straight up or down). Cells, home poses and derived workspaces are laid out along it."""
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, _rpy_quat(self.cfg.base_rpy))
        forward = rot.reshape(3, 3)[:, 0].copy()
        forward[2] = 0.0
        norm = float(np.linalg.norm(forward))
        return forward / norm if norm > 1e-6 else np.array([1.0, 0.0, 0.0])

    @functools.cached_property
    def shoulder(self) -> np.ndarray:
        """World position of the first arm joint's anchor."""
        data = self.data(self.model.qpos0[self.qpos_adr])  # the first joint's anchor does not move with q
        return data.xanchor[self.model.joint(self.model_joint_names[0]).id].copy()

    @functools.cached_property
    def reach_m(self) -> float:
        """How far the tool point gets from the shoulder (max over 4096 random configurations)."""
        import torch

        rng = np.random.default_rng(0)
        q = rng.uniform(np.maximum(self.lower, -np.pi), np.minimum(self.upper, np.pi), (4096, self.dof))
        kin = self.kinematics((self.tool,), dtype=torch.float64)
        tool = kin.forward(torch.as_tensor(q))[:, 0].numpy()
        return float(np.max(np.linalg.norm(tool - self.shoulder, axis=1)))

    def describe(self) -> str:
        """A few lines for logs: name, joints and limits, tool, spheres, home."""
        lines = [f"robot {self.name} ({self.description.kind}: {self.description.source[:120]})",
                 f"  {self.dof} arm joints: " + ", ".join(
                     f"{d}[{lo:.2f}, {hi:.2f}]" for d, lo, hi in zip(self.joint_names, self.lower, self.upper,
                                                                      strict=True)),
                 f"  tool {self.tool.frame!r} + {self.tool.offset}; reach {self.reach_m:.2f} m; "
                 f"{len(self.spheres)} check spheres (margin {self.cfg.sphere_margin_m} m)",
                 f"  home {np.round(self.home, 3).tolist()}"]
        if np.any(self.joint_offsets):
            lines.append(f"  driver offsets {np.round(self.joint_offsets, 4).tolist()}")
        if not self.velocity_from_description and not (self.cfg.max_joint_velocity_rad_s or
                                                       self._preset.max_joint_velocity_rad_s):
            lines.append(f"  no velocity limits in the description: {DEFAULT_MAX_VELOCITY_RAD_S} rad/s assumed")
        return "\n".join(lines)


@functools.lru_cache(maxsize=16)
def _load(cfg: RobotConfig) -> Robot:
    return Robot(cfg)


def load_robot(robot: RobotConfig | str | Robot = "panda", **overrides) -> Robot:
    """A Robot for a config, a name/file/XML text, or a Robot (returned as is). Cached per config."""
    if isinstance(robot, Robot):
        return robot
    cfg = robot if isinstance(robot, RobotConfig) else RobotConfig(description=str(robot))
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    return _load(cfg)
