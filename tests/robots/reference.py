"""Ground truth for the robots/ tests, from MuJoCo alone: check point positions by mj_kinematics, points on
the surfaces of collision geoms, and the coverage of those points by check spheres.

Shares no code with robots/kinematics.py or robots/spheres.py: frames are looked up by name in the compiled
model, poses come from MjData after mj_kinematics, and geoms are sampled from model.geom_* / model.mesh_*.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import mujoco
import numpy as np

from jepa_mpc.robots import CheckPoint, Robot


def frame_pose(model: mujoco.MjModel, data: mujoco.MjData, name: str) -> tuple[np.ndarray, np.ndarray]:
    """World position [3] and rotation [3, 3] of a site (tried first) or a body, from data (kinematics done)."""
    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, name)
    if site >= 0:
        return data.site_xpos[site].copy(), data.site_xmat[site].reshape(3, 3).copy()
    body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
    assert body >= 0, f"no site or body {name!r}"
    return data.xpos[body].copy(), data.xmat[body].reshape(3, 3).copy()


def arm_joint_ids(robot: Robot) -> list[int]:
    return [mujoco.mj_name2id(robot.model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in robot.model_joint_names]


def random_arm_q(robot: Robot, n: int, rng: np.random.Generator) -> np.ndarray:
    """n joint vectors [n, J] uniform within the arm's limits (model convention)."""
    return rng.uniform(robot.lower, robot.upper, (n, robot.dof))


def mujoco_points(robot: Robot, points: Sequence[CheckPoint], q: np.ndarray,
                  aux: dict[int, float] | None = None) -> np.ndarray:
    """World positions [N, P, 3] of points at arm configurations q [N, J] by mj_kinematics (non-arm joints at
    qpos0, or at aux {qpos address: value})."""
    model = robot.model
    data = mujoco.MjData(model)
    adr = [model.jnt_qposadr[j] for j in arm_joint_ids(robot)]
    out = np.empty((len(q), len(points), 3))
    for i, qi in enumerate(np.atleast_2d(q)):
        data.qpos[:] = model.qpos0
        data.qpos[adr] = qi
        for a, v in (aux or {}).items():
            data.qpos[a] = v
        mujoco.mj_kinematics(model, data)
        for k, p in enumerate(points):
            pos, rot = frame_pose(model, data, p.frame)
            out[i, k] = pos + rot @ np.asarray(p.offset, dtype=np.float64)
    return out


# ---------------------------------------------------------------------------------------------- geoms


def is_collision(model: mujoco.MjModel, geom: int) -> bool:
    return bool(model.geom_contype[geom]) or bool(model.geom_conaffinity[geom])


def moving_bodies(robot: Robot) -> set[int]:
    """Bodies with at least one arm joint between them and the world."""
    m, arm = robot.model, set(arm_joint_ids(robot))
    out = set()
    for b in range(1, m.nbody):
        c = b
        while c != 0:
            if arm & set(range(m.body_jntadr[c], m.body_jntadr[c] + m.body_jntnum[c])):
                out.add(b)
                break
            c = int(m.body_parentid[c])
    return out


def moving_collision_geoms(robot: Robot) -> list[int]:
    m, moving = robot.model, moving_bodies(robot)
    return [g for g in range(m.ngeom) if is_collision(m, g) and int(m.geom_bodyid[g]) in moving]


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def surface_points(model: mujoco.MjModel, geom: int, n: int, rng: np.random.Generator,
                   max_vertices: int = 5000) -> np.ndarray:
    """Points [~n, 3] on the surface of a geom, in the geom's frame. Meshes: random barycentric points on
    random faces (area-weighted), plus the vertices (up to max_vertices of them): the points farthest out."""
    types = mujoco.mjtGeom
    kind, s = model.geom_type[geom], model.geom_size[geom].astype(np.float64)
    if kind == types.mjGEOM_MESH:
        mesh = model.geom_dataid[geom]
        v0, nv = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
        f0, nf = model.mesh_faceadr[mesh], model.mesh_facenum[mesh]
        verts = model.mesh_vert[v0 : v0 + nv].astype(np.float64)
        tri = verts[model.mesh_face[f0 : f0 + nf]]  # [F, 3, 3]
        area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        prob = area / area.sum() if area.sum() > 0 else None
        face = rng.choice(len(tri), n, p=prob)
        u, v = rng.random(n), rng.random(n)
        flip = u + v > 1
        u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
        t = tri[face]
        pts = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
        corners = verts if len(verts) <= max_vertices else verts[rng.choice(len(verts), max_vertices, False)]
        return np.concatenate([pts, corners])
    if kind == types.mjGEOM_SPHERE:
        return s[0] * _unit(rng, n)
    if kind == types.mjGEOM_ELLIPSOID:
        return s[:3] * _unit(rng, n)
    if kind == types.mjGEOM_BOX:
        pts = rng.uniform(-1, 1, (n, 3)) * s[:3]
        areas = np.array([s[1] * s[2], s[0] * s[2], s[0] * s[1]])
        axis = rng.choice(3, n, p=areas / areas.sum())
        pts[np.arange(n), axis] = np.where(rng.random(n) < 0.5, -1, 1) * s[axis]
        return pts
    if kind in (types.mjGEOM_CAPSULE, types.mjGEOM_CYLINDER):
        r, h = s[0], s[1]
        side, ends = 4 * np.pi * r * h, (4 if kind == types.mjGEOM_CAPSULE else 2) * np.pi * r * r
        on_side = rng.random(n) < side / (side + ends)
        angle = rng.uniform(0, 2 * np.pi, n)
        pts = np.stack([r * np.cos(angle), r * np.sin(angle), rng.uniform(-h, h, n)], axis=1)
        k = int((~on_side).sum())
        sign = np.where(rng.random(k) < 0.5, -1.0, 1.0)
        if kind == types.mjGEOM_CAPSULE:  # hemispheres
            cap = r * _unit(rng, k)
            cap[:, 2] = np.abs(cap[:, 2]) * sign + h * sign
        else:  # flat discs
            rho, phi = r * np.sqrt(rng.random(k)), rng.uniform(0, 2 * np.pi, k)
            cap = np.stack([rho * np.cos(phi), rho * np.sin(phi), h * sign], axis=1)
        pts[~on_side] = cap
        return pts
    raise AssertionError(f"geom {model.geom(geom).name!r}: type {kind} is not a part of an arm")


def aux_joint_ranges(robot: Robot) -> list[tuple[int, float, float]]:
    """(qpos address, low, high) of every hinge/slide that is not an arm joint (fingers); +-pi when unlimited."""
    m, arm = robot.model, set(arm_joint_ids(robot))
    out = []
    for j in range(m.njnt):
        if j in arm or m.jnt_type[j] not in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
            continue
        lo, hi = m.jnt_range[j] if m.jnt_limited[j] else (-np.pi, np.pi)
        out.append((int(m.jnt_qposadr[j]), float(lo), float(hi)))
    return out


@dataclasses.dataclass
class Coverage:
    """Depth of each sampled surface point inside the check sphere that holds it best (negative: outside)."""

    depth: np.ndarray  # [N] r - |p - c|, maximised over spheres
    geom: np.ndarray  # [N] the geom each point lies on
    where: list[str]  # per sample: "geom name / body name @ configuration index"

    @property
    def uncovered(self) -> int:
        return int((self.depth < -1e-9).sum())

    def worst(self, count: int = 5) -> list[str]:
        order = np.argsort(self.depth)[:count]
        return [f"{self.where[i]}: {1000 * -self.depth[i]:.2f} mm outside" for i in order if self.depth[i] < 0]


def sphere_coverage(robot: Robot, spheres: Sequence[CheckPoint], configs: int = 8, per_geom: int = 200,
                    seed: int = 0) -> Coverage:
    """Sample surface points of every collision geom on a moving body, at `configs` random arm configurations
    with random finger positions, and measure how deep each lies inside the check spheres (all from MuJoCo)."""
    model, rng = robot.model, np.random.default_rng(seed)
    data = mujoco.MjData(model)
    geoms = moving_collision_geoms(robot)
    local = {g: surface_points(model, g, per_geom, rng) for g in geoms}
    adr = [model.jnt_qposadr[j] for j in arm_joint_ids(robot)]
    aux = aux_joint_ranges(robot)
    radius = np.array([s.radius for s in spheres])
    depths, geom_of, where = [], [], []
    for c, q in enumerate(random_arm_q(robot, configs, rng)):
        data.qpos[:] = model.qpos0
        data.qpos[adr] = q
        for a, lo, hi in aux:  # fully open, fully closed, or anywhere in between
            data.qpos[a] = rng.choice([lo, hi, rng.uniform(lo, hi)])
        mujoco.mj_kinematics(model, data)
        centres = np.stack([frame_pose(model, data, s.frame)[0] + frame_pose(model, data, s.frame)[1]
                            @ np.asarray(s.offset) for s in spheres])
        for g in geoms:
            world = local[g] @ data.geom_xmat[g].reshape(3, 3).T + data.geom_xpos[g]
            dist = np.linalg.norm(world[:, None] - centres[None], axis=-1)  # [n, S]
            depths.append((radius[None] - dist).max(axis=1))
            geom_of.append(np.full(len(world), g))
            where.extend([f"geom {model.geom(g).name or g} on {model.body(model.geom_bodyid[g]).name} @ {c}"]
                         * len(world))
    return Coverage(np.concatenate(depths), np.concatenate(geom_of), where)
