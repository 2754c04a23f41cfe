"""Check spheres that cover an arm's collision geometry, fingers and tool included, by construction.

Every collision geom is turned into small convex pieces, each a set of points dilated by a radius whose convex
hull contains that part of the geom: a mesh triangle (exact; plus the triangles of the mesh's convex hull when some
vertices belong to no face, as in multi-part OBJ files, since MuJoCo collides with that hull), a sub-box of a box
(exact), a piece of a capsule's or cylinder's axis dilated by its radius (exact for capsules, conservative at a
cylinder's rim), a sphere's centre dilated by its radius. A body moved by joints that are not arm joints (fingers)
is taken at several values of those joints, and one piece holds the same points at all of them: its hull contains
the swept piece (exact for slide joints; hinge sweeps add the chord's sagitta to the radius).

Pieces are grouped by their carrier, the nearest body that only arm joints move (swept pieces apart), and
clustered (k-means on the piece centres, k = 1..8 chosen by the least volume their union covers). Each sphere
encloses every point of every piece in its cluster, plus the margin. Since a ball is convex, it then contains each
whole piece, so every point of every collision surface lies inside some sphere, whatever the sampling.
"""
from __future__ import annotations

import contextlib
import dataclasses

import mujoco
import numpy as np

from jepa_mpc.robots.errors import RobotDescriptionError

MAX_SPHERES_PER_BODY = 8
MAX_SWEEP_POSES = 1024
"""Most combinations of non-arm joint values one body is swept through (a finger: a few; a second arm hanging
from a torso that the arm's joints move, as robosuite's Tiago: millions, which would exhaust memory)."""
PIECE_SIZE_M = 0.02
"""Pieces are subdivided until no edge is longer than this (so a cluster can split a long face)."""


@dataclasses.dataclass(frozen=True)
class Sphere:
    """A check sphere: centre `offset` in the frame of `body` (which only arm joints move), radius in metres."""

    body: str
    offset: tuple[float, float, float]
    radius: float
    swept: bool = False
    """It covers geometry that non-arm joints move (a gripper's fingers), swept over their range."""


@dataclasses.dataclass
class _Pieces:
    """Convex pieces: points [N, M, 3] (M points each, in the carrier frame) dilated by radius [N]."""

    points: np.ndarray
    radius: np.ndarray


def _quat_mat(quat: np.ndarray) -> np.ndarray:
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, np.asarray(quat, dtype=np.float64))
    return mat.reshape(3, 3)


def _subdivide_triangles(tri: np.ndarray, size: float) -> np.ndarray:
    """Triangles [N, 3, 3] split into four at the edge midpoints until every edge is <= size."""
    done = []
    for _ in range(12):
        edges = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=-1).max(axis=1)
        big = edges > size
        done.append(tri[~big])
        if not big.any():
            break
        t = tri[big]
        a, b, c = t[:, 0], t[:, 1], t[:, 2]
        ab, bc, ca = (a + b) / 2, (b + c) / 2, (c + a) / 2
        tri = np.concatenate([np.stack(s, axis=1) for s in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    else:
        done.append(tri)
    return np.concatenate(done)


def _box_pieces(half: np.ndarray, size: float) -> np.ndarray:
    """Sub-boxes of a box with half sizes `half`, as their 8 corners [N, 8, 3] (geom frame)."""
    cuts = [np.linspace(-h, h, max(1, int(np.ceil(2 * h / size))) + 1) for h in half]
    pieces = []
    for x0, x1 in zip(cuts[0][:-1], cuts[0][1:], strict=True):
        for y0, y1 in zip(cuts[1][:-1], cuts[1][1:], strict=True):
            for z0, z1 in zip(cuts[2][:-1], cuts[2][1:], strict=True):
                pieces.append([[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)])
    return np.array(pieces, dtype=np.float64)


def _axis_pieces(half_length: float, size: float) -> np.ndarray:
    """Pieces of the segment z in [-h, h] as endpoint pairs [N, 2, 3] (geom frame)."""
    z = np.linspace(-half_length, half_length, max(1, int(np.ceil(2 * half_length / size))) + 1)
    return np.array([[[0, 0, a], [0, 0, b]] for a, b in zip(z[:-1], z[1:], strict=True)], dtype=np.float64)


def geom_pieces(model: mujoco.MjModel, geom: int, size: float = PIECE_SIZE_M) -> tuple[np.ndarray, np.ndarray]:
    """Convex pieces of one geom in its body's frame: (points [N, M, 3], dilation radius [N])."""
    kind, s = model.geom_type[geom], model.geom_size[geom]
    geom_type = mujoco.mjtGeom
    if kind == geom_type.mjGEOM_MESH:
        mesh = model.geom_dataid[geom]
        v0, nv = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
        f0, nf = model.mesh_faceadr[mesh], model.mesh_facenum[mesh]
        verts = model.mesh_vert[v0 : v0 + nv].astype(np.float64)
        faces = model.mesh_face[f0 : f0 + nf]
        if len(np.unique(faces)) < nv:
            # MuJoCo keeps the faces of only the first object of a multi-object OBJ (a V-HACD decomposition such
            # as xArm6's collision meshes) but every vertex, and collides with their convex hull: cover the hull.
            from scipy.spatial import ConvexHull

            faces = np.concatenate([faces, ConvexHull(verts).simplices])
        points, radius = _subdivide_triangles(verts[faces], size), 0.0
    elif kind == geom_type.mjGEOM_BOX or kind == geom_type.mjGEOM_ELLIPSOID:
        points, radius = _box_pieces(np.asarray(s, dtype=np.float64), size), 0.0
    elif kind in (geom_type.mjGEOM_CAPSULE, geom_type.mjGEOM_CYLINDER):  # axis pieces dilated by the radius
        points, radius = _axis_pieces(float(s[1]), size), float(s[0])
    elif kind == geom_type.mjGEOM_SPHERE:
        points, radius = np.zeros((1, 1, 3)), float(s[0])
    else:  # planes and height fields are not parts of an arm
        return np.zeros((0, 1, 3)), np.zeros(0)
    rot, pos = _quat_mat(model.geom_quat[geom]), model.geom_pos[geom]
    points = points @ rot.T + pos
    return points, np.full(len(points), radius)


def is_collision_geom(model: mujoco.MjModel, geom: int) -> bool:
    """A geom that takes part in contacts (visual-only geoms have contype = conaffinity = 0)."""
    return bool(model.geom_contype[geom] or model.geom_conaffinity[geom])


# --------------------------------------------------------------------------------------- enclosing balls


def _extreme_points(points: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points (with their radii) that can be farthest from any centre: per radius value, the vertices of
    the points' convex hull (a ball that holds those holds all)."""
    from scipy.spatial import ConvexHull, QhullError

    keep_p, keep_r = [], []
    for r in np.unique(radius):
        pts = points[radius == r]
        if len(pts) > 4:
            with contextlib.suppress(QhullError):  # flat or degenerate: keep them all
                pts = pts[ConvexHull(pts).vertices]
        keep_p.append(pts)
        keep_r.append(np.full(len(pts), r))
    return np.concatenate(keep_p), np.concatenate(keep_r)


def _enclosing_ball(points: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, float]:
    """A small ball containing balls (points [N, 3], radius [N]) (Badoiu-Clarkson iterations; the radius is
    computed exactly for the final centre, so coverage never depends on convergence)."""
    points, radius = _extreme_points(points, radius)
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    for i in range(1, 100):
        dist = np.sqrt(((points - centre) ** 2).sum(axis=1))
        far = int(np.argmax(dist + radius))
        if dist[far] > 1e-12:  # move towards the far ball's farthest point
            target = centre + (points[far] - centre) * ((dist[far] + radius[far]) / dist[far])
            centre = centre + (target - centre) / (i + 1)
    return centre, float(np.max(np.sqrt(((points - centre) ** 2).sum(axis=1)) + radius))


def _union_volume(balls: list[tuple[np.ndarray, float]], n: int = 24) -> float:
    """Volume covered by the union of balls (a regular grid of n^3 cell centres over their bounding box)."""
    centres = np.stack([c for c, _ in balls])
    radii = np.array([r for _, r in balls])
    lo, hi = (centres - radii[:, None]).min(axis=0), (centres + radii[:, None]).max(axis=0)
    axes = [lo[i] + (np.arange(n) + 0.5) * (hi[i] - lo[i]) / n for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    inside = ((grid[:, None] - centres[None]) ** 2).sum(-1) <= radii**2
    return float(inside.any(axis=1).mean() * np.prod(hi - lo))


def _cover(points: np.ndarray, radius: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Spheres covering pieces (points [N, M, 3], radius [N]): k-means on piece centres for k = 1..8, keeping
    the k whose union of spheres covers the least volume (each extra sphere must save 3 % of one sphere's)."""
    centres = points.mean(axis=1)  # [N, 3]
    m = points.shape[1]
    # Pieces share points (mesh vertices, subdivision midpoints): enclose each distinct (point, radius) once.
    rows, inverse = np.unique(np.c_[points.reshape(-1, 3), np.repeat(radius, m)], axis=0, return_inverse=True)
    inverse = inverse.reshape(len(centres), m)
    # Lloyd's iterations run on at most 4000 piece centres (a fixed subsample); every piece then joins its nearest.
    sample = centres if len(centres) <= 4000 else centres[np.random.default_rng(0).choice(len(centres), 4000, False)]
    axis = np.linalg.svd(sample - sample.mean(axis=0), full_matrices=False)[2][0] if len(sample) > 1 \
        else np.array([1.0, 0.0, 0.0])
    order = np.argsort(sample @ axis)
    options: list[tuple[float, list]] = []
    for k in range(1, min(MAX_SPHERES_PER_BODY, len(centres)) + 1):
        labels = np.empty(len(sample), dtype=int)
        labels[order] = np.arange(len(sample)) * k // len(sample)  # slabs along the main axis
        for _ in range(15):
            means = np.stack([sample[labels == c].mean(axis=0) for c in np.unique(labels)])
            new = np.argmin(((sample[:, None] - means[None]) ** 2).sum(-1), axis=1)
            if np.array_equal(new, labels):
                break
            labels = new
        labels = np.argmin(((centres[:, None] - means[None]) ** 2).sum(-1), axis=1)
        balls = []
        for c in np.unique(labels):
            used = np.zeros(len(rows), dtype=bool)
            used[inverse[labels == c].ravel()] = True
            balls.append(_enclosing_ball(rows[used, :3], rows[used, 3]))
        options.append((_union_volume(balls), balls))
    single = options[0][0]
    return min(options, key=lambda o: o[0] + 0.03 * single * len(o[1]))[1]


# ------------------------------------------------------------------------------------------ the fitting


def _aux_samples(model: mujoco.MjModel, joint: int) -> tuple[np.ndarray, float]:
    """Values to take a non-arm joint at, and the angle step between them (0 for slides)."""
    lo, hi = model.jnt_range[joint] if model.jnt_limited[joint] else (-np.pi, np.pi)
    if model.jnt_type[joint] == mujoco.mjtJoint.mjJNT_SLIDE:
        return np.array([lo, hi]), 0.0
    n = max(2, int(np.ceil((hi - lo) / (np.pi / 8))) + 1)
    return np.linspace(lo, hi, n), (hi - lo) / (n - 1)


def fit_spheres(model: mujoco.MjModel, carrier_of: dict[int, int], arm_qpos: np.ndarray,
                margin_m: float) -> list[Sphere]:
    """Spheres over every collision geom whose body has a carrier (bodies moved by arm joints only, or below one).

    carrier_of: body id -> carrier body id (the nearest ancestor-or-self that only arm joints move); bodies
    missing from it (the fixed base) get no spheres. arm_qpos: a full qpos to place the non-arm joints' bodies
    in their carriers' frames (the arm joints' values do not matter: carriers move with them).
    """
    data = mujoco.MjData(model)
    groups: dict[tuple[int, bool], list[_Pieces]] = {}  # (carrier, swept) -> pieces
    geoms_of: dict[int, list[int]] = {}
    for g in range(model.ngeom):
        body = int(model.geom_bodyid[g])
        if body in carrier_of and is_collision_geom(model, g):
            geoms_of.setdefault(body, []).append(g)
    aux_of: dict[int, list[int]] = {}  # body -> the non-arm joints between its carrier and it
    for body in geoms_of:
        aux_of[body], b = [], body
        while b != carrier_of[body]:
            aux_of[body].extend(range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b]))
            b = int(model.body_parentid[b])
        poses = int(np.prod([len(_aux_samples(model, j)[0]) for j in aux_of[body]]))
        if poses > MAX_SWEEP_POSES:  # checked for every body before any work
            raise RobotDescriptionError(
                f"body {model.body(body).name!r} hangs from the arm through {len(aux_of[body])} joints that are "
                f"not arm joints ({', '.join(model.joint(j).name for j in aux_of[body])}): sweeping them for its "
                f"check spheres takes {poses} poses (at most {MAX_SWEEP_POSES}); a Robot is one arm with a "
                "gripper, not a second arm or a head that moves on its own")
    for body, geoms in geoms_of.items():
        carrier = carrier_of[body]
        # The non-arm joints between the carrier and this body, and the values to sweep them through.
        aux = aux_of[body]
        grids = [_aux_samples(model, j) for j in aux]
        combos = np.array(np.meshgrid(*[v for v, _ in grids], indexing="ij")).reshape(len(aux), -1).T \
            if aux else np.zeros((1, 0))
        for g in geoms:
            pts, rad = geom_pieces(model, g)
            if not len(pts):
                continue
            placed, sweeps = [], {}
            for combo in combos:
                data.qpos[:] = arm_qpos
                for j, value in zip(aux, combo, strict=True):
                    data.qpos[model.jnt_qposadr[j]] = value
                mujoco.mj_kinematics(model, data)
                rb, pb = data.xmat[body].reshape(3, 3), data.xpos[body]
                world = pts @ rb.T + pb
                for j, (_, step) in zip(aux, grids, strict=True):
                    if step > 0:  # a hinge sweep leaves the chord between samples by at most d (1 - cos(step / 2))
                        d = float(np.max(np.linalg.norm(world.reshape(-1, 3) - data.xanchor[j], axis=1)))
                        sweeps[j] = max(sweeps.get(j, 0.0), d * (1 - np.cos(step / 2)))
                rc, pc = data.xmat[carrier].reshape(3, 3), data.xpos[carrier]
                placed.append((world - pc) @ rc)  # world -> carrier frame
            groups.setdefault((carrier, bool(aux)), []).append(_Pieces(np.concatenate(placed, axis=1),
                                                             rad + sum(sweeps.values())))
    spheres = []
    for (carrier, swept), pieces in sorted(groups.items()):
        m = max(p.points.shape[1] for p in pieces)  # pad every piece to m points by repeating its first
        points = np.concatenate([np.concatenate([p.points, np.repeat(p.points[:, :1], m - p.points.shape[1], 1)],
                                                axis=1) for p in pieces])
        radius = np.concatenate([p.radius for p in pieces])
        name = model.body(carrier).name
        for centre, r in _cover(points, radius):
            spheres.append(Sphere(name, tuple(float(v) for v in centre), float(r + margin_m), swept))
    return spheres
