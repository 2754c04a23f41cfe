"""Tiny robot descriptions and meshes written by the tests themselves (URDF / MJCF text, OBJ and STL cubes)."""
from __future__ import annotations

import pathlib
import struct

import numpy as np

INERTIAL = ('<inertial><mass value="1"/>'
            '<inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial>')


def link(name: str, mesh: str | None = None, box: bool = True) -> str:
    """A URDF link with an inertial, and a collision mesh (a URI) or a small box."""
    geometry = (f'<mesh filename="{mesh}"/>' if mesh is not None else
                '<box size="0.04 0.04 0.2"/>' if box else "")
    collision = f"<collision><origin xyz='0 0 0.1'/><geometry>{geometry}</geometry></collision>" if geometry else ""
    return f'<link name="{name}">{INERTIAL}{collision}</link>'


def joint(name: str, parent: str, child: str, kind: str = "revolute", limit: str | None = "-1.5 1.5",
          z: float = 0.2) -> str:
    """A URDF joint about y (so the chain bends); limit 'lower upper' or None for no <limit> element."""
    lim = ""
    if limit is not None:
        lower, upper = limit.split()
        lim = f'<limit lower="{lower}" upper="{upper}" effort="10" velocity="2"/>'
    return (f'<joint name="{name}" type="{kind}"><parent link="{parent}"/><child link="{child}"/>'
            f'<origin xyz="0 0 {z}"/><axis xyz="0 1 0"/>{lim}</joint>')


def urdf(*elements: str, name: str = "tiny") -> str:
    return f'<?xml version="1.0"?>\n<robot name="{name}">{"".join(elements)}</robot>\n'


def chain_urdf(n: int = 2, mesh: str | None = None, kinds: tuple[str, ...] = ()) -> str:
    """base -> link1 -> ... -> link{n}, joints j1..jn (revolute unless kinds says), the mesh on link1."""
    parts = [link("base")]
    for i in range(1, n + 1):
        parts.append(link(f"link{i}", mesh if i == 1 else None))
        kind = kinds[i - 1] if i - 1 < len(kinds) else "revolute"
        parts.append(joint(f"j{i}", "base" if i == 1 else f"link{i - 1}", f"link{i}", kind,
                           None if kind == "continuous" else "-1.5 1.5", z=0.1 if i == 1 else 0.2))
    return urdf(*parts)


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _cube(half: float) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    verts = np.array([[x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half)])
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return verts, [t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))]


def cube_obj(path: pathlib.Path, half: float) -> pathlib.Path:
    """A cube of half size `half` (metres) as a Wavefront OBJ."""
    verts, faces = _cube(half)
    lines = [f"v {x} {y} {z}" for x, y, z in verts] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    return write(path, "o cube\n" + "\n".join(lines) + "\n")


def cube_stl(path: pathlib.Path, half: float) -> pathlib.Path:
    """A cube of half size `half` (metres) as a binary STL."""
    verts, faces = _cube(half)
    body = b"".join(struct.pack("<12fH", 0, 0, 0, *verts[a], *verts[b], *verts[c], 0) for a, b, c in faces)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * 80 + struct.pack("<I", len(faces)) + body)
    return path


def mjcf(body: str, name: str = "tiny") -> str:
    return f'<mujoco model="{name}"><worldbody>{body}</worldbody></mujoco>'
