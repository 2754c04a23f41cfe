"""Resolve `package://NAME/PATH` mesh URIs the way ROS tools do, without ROS installed.

Search order (the first existing file wins): each `AMENT_PREFIX_PATH` entry's `share/NAME`, each
`ROS_PACKAGE_PATH` entry (a folder named NAME, or any folder below it whose package.xml declares NAME), a
user-given map {NAME: folder}, then next to the description file (`<its folder>/NAME`, then its parents).
A URI that resolves nowhere is a RobotDescriptionError naming the URI and every place searched.
"""
from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Mapping

from jepa_mpc.robots.errors import RobotDescriptionError

_NAME_TAG = re.compile(r"<name>\s*([^<\s]+)\s*</name>")


def _ros_package_dirs(root: pathlib.Path, name: str) -> list[pathlib.Path]:
    """Folders under a ROS_PACKAGE_PATH entry that are the package NAME (by folder name or package.xml)."""
    found = [root / name] if (root / name).is_dir() else []
    if root.is_dir():
        for manifest in sorted(root.rglob("package.xml")):
            match = _NAME_TAG.search(manifest.read_text(errors="replace"))
            if match and match.group(1) == name:
                found.append(manifest.parent)
    return found


def candidate_dirs(name: str, description_dir: pathlib.Path | None,
                   package_map: Mapping[str, str] | None = None) -> list[pathlib.Path]:
    """Every folder that may be the package NAME, in search order."""
    dirs: list[pathlib.Path] = []
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        dirs.append(pathlib.Path(prefix) / "share" / name)
    for root in filter(None, os.environ.get("ROS_PACKAGE_PATH", "").split(os.pathsep)):
        dirs.extend(_ros_package_dirs(pathlib.Path(root), name) or [pathlib.Path(root) / name])
    if package_map and name in package_map:
        dirs.append(pathlib.Path(package_map[name]).expanduser())
    if description_dir is not None:
        here = description_dir.resolve()
        dirs.extend(folder / name for folder in (here, *here.parents))
    return dirs


def resolve_uri(uri: str, description_dir: pathlib.Path | None,
                package_map: Mapping[str, str] | None = None) -> pathlib.Path:
    """An absolute path for a mesh URI: `package://NAME/PATH`, `file://PATH`, or a path relative to the
    description's folder. Raises RobotDescriptionError listing every place searched."""
    if uri.startswith("package://"):
        rest = uri[len("package://"):]
        name, _, relative = rest.partition("/")
        if not name or not relative:
            raise RobotDescriptionError(f"mesh URI {uri!r} is not package://NAME/PATH")
        tried = [folder / relative for folder in candidate_dirs(name, description_dir, package_map)]
        for path in tried:
            if path.is_file():
                return path.resolve()
        places = "\n  ".join(str(p) for p in tried) or "(nowhere: no AMENT_PREFIX_PATH, ROS_PACKAGE_PATH or map)"
        raise RobotDescriptionError(
            f"mesh {uri!r} not found; searched:\n  {places}\n"
            f"Set AMENT_PREFIX_PATH or ROS_PACKAGE_PATH, or map the package "
            f"(RobotConfig.package_map=('{name}=/path/to/{name}',))")
    path = pathlib.Path(uri[len("file://"):] if uri.startswith("file://") else uri).expanduser()
    if not path.is_absolute() and description_dir is not None:
        path = description_dir / path
    if not path.is_file():
        raise RobotDescriptionError(f"mesh {uri!r} not found at {path}")
    return path.resolve()
