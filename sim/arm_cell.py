"""A MuJoCo cell for any arm: the Robot standing on a table, a floor, a light, a fixed camera, a goal marker, and
position actuators that track joint targets like a ros2_control joint_trajectory_controller.

`build_arm_cell(robot)` starts from `robot.build_spec()` (the arm at its base pose, source actuators removed) and
adds, all sized from the arm's reach r (`robot.reach_m`) and placed in its base frame (the base position and the
horizontal projection of the base's +x axis, "forward"):

- a table whose top is at the base height, from -0.3 r behind to 1.05 r in front of the base and 0.75 r to each
  side (the Panda scene's table for r = 0.95 m), 0.75 m tall, over a floor;
- a fixed camera `front` looking at 0.5 r in front of the base, 0.3 r above the table, from 1.8 r away, diagonally
  (front-left, as the Panda scene's); a `CameraConfig` (world frame) overrides it;
- an invisible mocap goal marker (`goal_marker`), a directional light without shadows, and the CPU-friendly
  visual settings of sim/assets/panda_scene.xml (no shadows, no multisampling, offscreen buffer up to
  `max_render_size`); timestep 0.002 s with the implicitfast integrator.

Dynamics. Every robot body is gravity-compensated (gravcomp=1), as real arm controllers compensate gravity. Each
arm joint gets a position actuator with kp_i = M_ii w^2 and kv_i = 2 M_ii w (critically damped at w = 35 rad/s,
M_ii the joint-space inertia at home including armature), so any arm follows a target within about one 0.1 s
control period; ctrlrange = the joint range. The description's passive joint damping and friction are dropped
(they model the real drive, whose controller compensates them; left in, an arm with heavy damping and light links
would crawl) and a small armature (`MIN_ARMATURE`, a drive's rotor inertia) keeps light wrist links well
conditioned. Non-arm joints (fingers) get position actuators holding them at their reference position (qpos0).

Contacts. Robot geoms collide with the table and the floor but not with each other (contype ROBOT_BIT,
conaffinity SCENE_BIT; scene geoms the other way round). Bodies no arm joint can lower (the mount: the base and
links turning only about vertical axes) never touch the table (an exclude pair), as a bolted-down base does not.
Where a description has separate visual geoms, its collision geoms are moved to geom group 3 (not rendered).
"""
from __future__ import annotations

import copy
import dataclasses
import pathlib
import threading

from jepa_mpc.sim.rendering import select_gl_backend

select_gl_backend()
import mujoco  # noqa: E402  (must follow select_gl_backend)
import numpy as np  # noqa: E402

from jepa_mpc.robots import Robot  # noqa: E402
from jepa_mpc.sim.panda_scene import CameraConfig  # noqa: E402

CAMERA_NAME = "front"
GOAL_MARKER = "goal_marker"
TABLE = "cell_table"
TABLE_HEIGHT_M = 0.75
ROBOT_BIT = 2
"""contype of robot geoms: robot-robot pairs never collide (ROBOT_BIT & SCENE_BIT == 0)."""
SCENE_BIT = 1
"""contype of scene geoms (table, floor); robot geoms have conaffinity SCENE_BIT and scene geoms ROBOT_BIT."""
TRACKING_OMEGA_RAD_S = 35.0
"""Natural frequency of each joint's position loop (critically damped): a step settles to 10 % in ~0.11 s."""
MIN_ARMATURE = 0.01
"""kg m^2 (or kg for a slide): lower bound on each actuated joint's armature."""
TIMESTEP_S = 0.002

_CACHE: dict[tuple, ArmCell] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 16


@dataclasses.dataclass(frozen=True)
class ArmCell:
    """A compiled cell and the addresses an environment needs."""

    model: mujoco.MjModel
    robot: Robot
    arm_qpos_adr: np.ndarray
    """[J] qpos addresses of the arm joints (the Robot's order)."""
    arm_dof_adr: np.ndarray
    arm_actuators: np.ndarray
    """[J] actuator ids of the arm joints' position actuators."""
    aux_qpos_adr: np.ndarray
    """[K] qpos addresses of the other actuated joints (fingers)."""
    aux_actuators: np.ndarray
    aux_reference: np.ndarray
    """[K] positions the aux actuators hold (the joints' qpos0)."""
    tool_site: int
    """Site id of the tool frame, or -1 when it is a body (then tool_body)."""
    tool_body: int
    goal_mocap: int
    """Mocap index of the goal marker (data.mocap_pos[goal_mocap])."""
    goal_geom: int
    table_geom: int
    table_top_z: float
    base_pos: np.ndarray
    forward: np.ndarray
    """Unit horizontal vector of the base's +x axis (world)."""
    left: np.ndarray
    """Unit horizontal vector 90 degrees counter-clockwise from forward."""
    kp: np.ndarray
    kv: np.ndarray
    camera: CameraConfig
    camera_name: str = CAMERA_NAME

    def tool_pose(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """Tool point [3] and tool frame rotation [3, 3] in `data` (kinematics must be current)."""
        if self.tool_site >= 0:
            pos, mat = data.site_xpos[self.tool_site], data.site_xmat[self.tool_site]
        else:
            pos, mat = data.xpos[self.tool_body], data.xmat[self.tool_body]
        mat = mat.reshape(3, 3)
        return pos + mat @ np.asarray(self.robot.tool.offset, dtype=np.float64), mat.copy()


def base_frame(robot: Robot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(base position, forward, left): the base position, the horizontal direction the base faces
    (`Robot.forward`) and the one to its left (world frame)."""
    forward = robot.forward
    left = np.array([-forward[1], forward[0], 0.0])
    return np.asarray(robot.cfg.base_pos, dtype=np.float64), forward, left


def default_camera(robot: Robot) -> CameraConfig:
    """Front-left diagonal view of the arm's workspace, from 1.8 x reach (the Panda scene's view for the Panda)."""
    base, forward, left = base_frame(robot)
    reach = robot.reach_m
    up = np.array([0.0, 0.0, 1.0])
    lookat = base + 0.5 * reach * forward + 0.3 * reach * up
    direction = 0.72 * forward + 0.52 * left + 0.46 * up  # the Panda scene's camera direction
    pos = lookat + 1.8 * reach * direction / np.linalg.norm(direction)
    return CameraConfig(pos=tuple(float(v) for v in pos), lookat=tuple(float(v) for v in lookat))


def _camera_quat(camera: CameraConfig) -> np.ndarray:
    xy = np.asarray(camera.xyaxes()).reshape(2, 3)
    mat = np.stack([xy[0], xy[1], np.cross(xy[0], xy[1])], axis=1)  # columns: camera x, y, z (z looks back)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat.reshape(-1))
    return quat


def _yaw_quat(forward: np.ndarray) -> np.ndarray:
    yaw = float(np.arctan2(forward[1], forward[0]))
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def _obj_parts(path: pathlib.Path) -> list[np.ndarray]:
    """Vertices [V_k, 3] of each object (`o` / `g` section with faces) of a Wavefront OBJ file."""
    verts: list[list[float]] = []
    parts: list[set[int]] = []
    current: set[int] = set()
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("v "):
                verts.append([float(v) for v in line.split()[1:4]])
            elif line.startswith(("o ", "g ")):
                if current:
                    parts.append(current)
                current = set()
            elif line.startswith("f "):
                for token in line.split()[1:]:
                    i = int(token.split("/")[0])
                    current.add(i - 1 if i > 0 else len(verts) + i)
    if current:
        parts.append(current)
    array = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    return [array[sorted(p)] for p in parts if len(p) >= 4]


def _mesh_path(spec: mujoco.MjSpec, mesh) -> pathlib.Path | None:
    if not mesh.file:
        return None
    path = pathlib.Path(mesh.file)
    if not path.is_absolute():
        path = pathlib.Path(spec.modelfiledir or ".") / (spec.meshdir or "") / path
    return path if path.is_file() else None


def _draw_multipart_meshes(spec: mujoco.MjSpec, geoms: list) -> None:
    """A multi-object OBJ (V-HACD collision meshes: several convex parts in one file) collides as the convex hull
    of all its vertices but is drawn with the first part's faces only, so the link looks broken. Each geom using
    one is hidden (group 3; it still collides) and drawn instead by one massless visual geom per part."""
    for mesh in list(spec.meshes):
        path = _mesh_path(spec, mesh)
        if path is None or path.suffix.lower() != ".obj":
            continue
        try:
            parts = _obj_parts(path)
        except (OSError, ValueError):
            continue
        if len(parts) < 2:
            continue
        names = []
        for k, verts in enumerate(parts):
            part = spec.add_mesh(name=f"{mesh.name}__part{k}", uservert=(verts * mesh.scale).ravel().tolist())
            part.refpos, part.refquat = mesh.refpos, mesh.refquat
            names.append(part.name)
        for geom in geoms:
            if geom.type != mujoco.mjtGeom.mjGEOM_MESH or geom.meshname != mesh.name:
                continue
            for name in names:
                geom.parent.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=name, pos=geom.pos, quat=geom.quat,
                                     rgba=geom.rgba, material=geom.material, group=min(int(geom.group), 2),
                                     contype=0, conaffinity=0, mass=0.0)
            geom.group = 3


def _joint_inertia(robot: Robot, armature: np.ndarray) -> np.ndarray:
    """Diagonal of the joint-space inertia [nv] at home (other joints at qpos0), with the cell's armature."""
    model = copy.deepcopy(robot.model)
    model.dof_armature[:] = armature
    data = mujoco.MjData(model)
    data.qpos[robot.qpos_adr] = robot.home
    mujoco.mj_forward(model, data)
    full = np.zeros((model.nv, model.nv))
    mujoco.mj_fullM(model, data, full)
    return np.diag(full).copy()


def _build(robot: Robot, camera: CameraConfig, max_render_size: int, omega: float) -> ArmCell:
    spec = robot.build_spec()
    rm = robot.model
    base, forward, left = base_frame(robot)
    reach = robot.reach_m
    table_z = float(base[2])

    spec.compiler.discardvisual = False  # URDF loading sets it (their visuals are dropped already); keep the marker
    spec.option.timestep = TIMESTEP_S
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0
    spec.visual.global_.offwidth = int(max_render_size)
    spec.visual.global_.offheight = int(max_render_size)
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.5, 0.5, 0.5]
    spec.visual.headlight.specular = [0.0, 0.0, 0.0]

    # Robot: gravity compensation, contact bits, collision geoms hidden where visual geoms exist.
    robot_bodies = list(spec.worldbody.find_all(mujoco.mjtObj.mjOBJ_BODY))
    geoms = list(spec.worldbody.find_all(mujoco.mjtObj.mjOBJ_GEOM))
    visual = [g for g in geoms if g.contype == 0 and g.conaffinity == 0 and g.group < 3]
    for body in robot_bodies:
        body.gravcomp = 1.0
    for geom in geoms:
        if geom.contype or geom.conaffinity:
            geom.contype, geom.conaffinity = ROBOT_BIT, SCENE_BIT
            if visual:
                geom.group = 3
    _draw_multipart_meshes(spec, geoms)

    # Joints: armature floor, passive damping and friction dropped on actuated hinge / slide joints.
    actuated = [j for j in range(rm.njnt) if rm.jnt_type[j] in (mujoco.mjtJoint.mjJNT_HINGE,
                                                               mujoco.mjtJoint.mjJNT_SLIDE)]
    armature = rm.dof_armature.copy()
    for j in actuated:
        dof = rm.jnt_dofadr[j]
        armature[dof] = max(armature[dof], MIN_ARMATURE)
        joint = spec.joint(rm.joint(j).name)
        joint.armature = float(armature[dof])
        joint.damping = [0.0, 0.0, 0.0]
        joint.frictionloss = 0.0
    inertia = _joint_inertia(robot, armature)

    arm_ids = [rm.joint(name).id for name in robot.model_joint_names]
    kp, kv = [], []
    for j in [*arm_ids, *(j for j in actuated if j not in arm_ids)]:
        name = rm.joint(j).name
        m_ii = float(inertia[rm.jnt_dofadr[j]])
        gain, damp = m_ii * omega**2, 2.0 * m_ii * omega
        act = spec.add_actuator(name=f"cell_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=gain, kv=damp)
        if rm.jnt_limited[j]:
            act.ctrllimited = True
            act.ctrlrange = rm.jnt_range[j].tolist()
        if j in arm_ids:
            kp.append(gain)
            kv.append(damp)

    # Scene: floor, table, light, goal marker, camera.
    texture = spec.add_texture(name="cell_grid", type=mujoco.mjtTexture.mjTEXTURE_2D,
                               builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, rgb1=[0.55, 0.45, 0.35],
                               rgb2=[0.5, 0.4, 0.3], width=64, height=64)
    material = spec.add_material(name="cell_table", texrepeat=[6, 6], reflectance=0.0)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = texture.name
    world = spec.worldbody
    world.add_geom(name="cell_floor", type=mujoco.mjtGeom.mjGEOM_PLANE,
                   pos=[base[0], base[1], table_z - TABLE_HEIGHT_M], size=[4 * reach, 4 * reach, 0.1],
                   rgba=[0.25, 0.27, 0.3, 1], contype=SCENE_BIT, conaffinity=ROBOT_BIT)
    table_body = world.add_body(name=TABLE, pos=[0.0, 0.0, 0.0])
    half = np.array([0.675 * reach, 0.75 * reach, TABLE_HEIGHT_M / 2])
    centre = base + 0.375 * reach * forward - np.array([0.0, 0.0, half[2]])
    table_body.add_geom(name="cell_table", type=mujoco.mjtGeom.mjGEOM_BOX, pos=centre.tolist(),
                        quat=_yaw_quat(forward).tolist(), size=half.tolist(), material="cell_table",
                        contype=SCENE_BIT, conaffinity=ROBOT_BIT)
    world.add_light(name="cell_light", pos=[*(base[:2] + 0.5 * reach * forward[:2]), table_z + 2.0],
                    dir=[0.0, 0.0, -1.0], diffuse=[0.6, 0.6, 0.6], castshadow=False,
                    type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)
    marker = world.add_body(name=GOAL_MARKER, mocap=True, pos=(base + 0.5 * reach * forward).tolist())
    marker.add_geom(name="goal_marker_geom", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.02, 0, 0],
                    rgba=[0.1, 0.8, 0.2, 0.0], contype=0, conaffinity=0)
    world.add_camera(name=CAMERA_NAME, pos=list(camera.pos), quat=_camera_quat(camera).tolist(),
                     fovy=float(camera.fovy_deg))
    for name in sorted(robot.mount_bodies):
        spec.add_exclude(bodyname1=TABLE, bodyname2=name)

    model = spec.compile()
    aux = [j for j in actuated if j not in arm_ids]
    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, robot.tool.frame)
    body = int(model.site_bodyid[site]) if site >= 0 else model.body(robot.tool.frame).id
    return ArmCell(
        model=model, robot=robot,
        arm_qpos_adr=np.array([model.joint(n).qposadr[0] for n in robot.model_joint_names]),
        arm_dof_adr=np.array([model.joint(n).dofadr[0] for n in robot.model_joint_names]),
        arm_actuators=np.array([model.actuator(f"cell_{n}").id for n in robot.model_joint_names]),
        aux_qpos_adr=np.array([model.joint(rm.joint(j).name).qposadr[0] for j in aux], dtype=int),
        aux_actuators=np.array([model.actuator(f"cell_{rm.joint(j).name}").id for j in aux], dtype=int),
        aux_reference=np.array([model.qpos0[model.joint(rm.joint(j).name).qposadr[0]] for j in aux]),
        tool_site=site, tool_body=body,
        goal_mocap=int(model.body_mocapid[model.body(GOAL_MARKER).id]),
        goal_geom=model.geom("goal_marker_geom").id, table_geom=model.geom("cell_table").id,
        table_top_z=table_z, base_pos=base, forward=forward, left=left,
        kp=np.array(kp), kv=np.array(kv), camera=camera)


def build_arm_cell(robot: Robot, camera: CameraConfig | None = None, max_render_size: int = 512,
                   omega: float = TRACKING_OMEGA_RAD_S) -> ArmCell:
    """The cell for `robot` (compiled once per robot config, camera and buffer size; each call returns its own
    copy of the MjModel, safe to mutate)."""
    camera = camera or default_camera(robot)
    if not 16 <= int(max_render_size) <= 4096:
        raise ValueError(f"max_render_size must be in [16, 4096], got {max_render_size!r}")
    if not omega > 0:
        raise ValueError(f"omega must be > 0, got {omega!r}")
    key = (robot.cfg, id(robot), camera, int(max_render_size), float(omega))
    with _CACHE_LOCK:
        cell = _CACHE.get(key)
        if cell is None:
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            cell = _CACHE[key] = _build(robot, camera, int(max_render_size), float(omega))
    return dataclasses.replace(cell, model=copy.deepcopy(cell.model))


__all__ = ["CAMERA_NAME", "ArmCell", "base_frame", "build_arm_cell", "default_camera"]
