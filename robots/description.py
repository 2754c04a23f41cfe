"""Read an arm description (URDF or MJCF; a file or the text itself) into one MuJoCo MjSpec.

MuJoCo compiles both formats, so the kinematic tree comes from one parser. What MuJoCo drops from a URDF and
a Robot needs (joint kind, velocity and effort limits) is read here from the XML. Before MuJoCo sees a URDF,
its mesh URIs are resolved (`package://` as package_uri.py says), visual elements are dropped (only collision
geometry matters, and visual formats such as .dae do not load), and compiler options make messy files load:
`balanceinertia` (xArm6's inertias fail MuJoCo's triangle inequality), `fusestatic="false"` (fixed links such
as a flange or a hand stay named bodies that a tool frame can name). Actuators, sensors and keyframes of the
source are removed: the sim cell adds its own controllers.
"""
from __future__ import annotations

import dataclasses
import math
import pathlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping

import mujoco

from jepa_mpc.robots.errors import RobotDescriptionError
from jepa_mpc.robots.package_uri import resolve_uri

URDF_MOVABLE = ("revolute", "continuous", "prismatic")


@dataclasses.dataclass(frozen=True)
class JointInfo:
    """What the description says about one joint beyond what MuJoCo compiles."""

    name: str
    kind: str
    """URDF type (revolute, continuous, prismatic, fixed, ...) or MJCF type (hinge, slide, ball, free)."""
    has_position_limit: bool
    velocity: float | None = None
    """Velocity limit (rad/s or m/s) when the description gives one (URDF does, MJCF has no such field)."""
    effort: float | None = None


@dataclasses.dataclass
class Description:
    """A parsed description: the MjSpec (meshes resolved, source actuators removed) and the joint facts."""

    spec: mujoco.MjSpec
    source: str
    """File path, or '<urdf text>' / '<mjcf text>' for a description given as a string."""
    kind: str  # "urdf" | "mjcf"
    joints: dict[str, JointInfo]
    name: str


def _is_xml_text(source: str) -> bool:
    return source.lstrip().startswith("<")


def _parse_xml(text: str, where: str) -> ET.Element:
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise RobotDescriptionError(f"{where}: not well-formed XML ({exc})") from None


def load_description(source: str | pathlib.Path, package_map: Mapping[str, str] | None = None) -> Description:
    """A URDF or MJCF, given as a file path or as its XML text (e.g. the `/robot_description` parameter)."""
    if isinstance(source, pathlib.Path) or not _is_xml_text(str(source)):
        path = pathlib.Path(source).expanduser()
        if not path.is_file():
            raise RobotDescriptionError(f"robot description {str(source)!r}: no such file")
        text, where, folder = path.read_text(errors="replace"), str(path), path.parent
    else:
        text, where, folder, path = str(source), "", None, None
    root = _parse_xml(text, where or "robot description text")
    if root.tag == "robot":
        return _load_urdf(root, where or "<urdf text>", folder, package_map)
    if root.tag == "mujoco":
        return _load_mjcf(text, path, where or "<mjcf text>")
    raise RobotDescriptionError(f"{where or 'robot description text'}: root element <{root.tag}> is neither "
                                "<robot> (URDF) nor <mujoco> (MJCF)")


# ------------------------------------------------------------------------------------------------- URDF


def _float(element: ET.Element, attr: str) -> float | None:
    value = element.get(attr)
    if value is None:
        return None
    try:
        out = float(value)
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def _urdf_joints(root: ET.Element, where: str) -> dict[str, JointInfo]:
    """Joint facts, after checking the URDF is one tree (every link has at most one parent, no cycles)."""
    links = {link.get("name") for link in root.findall("link")}
    parent_of: dict[str, tuple[str, str]] = {}
    joints: dict[str, JointInfo] = {}
    for joint in root.findall("joint"):
        name, kind = joint.get("name", ""), joint.get("type", "")
        parent = (joint.find("parent").get("link") if joint.find("parent") is not None else None)
        child = (joint.find("child").get("link") if joint.find("child") is not None else None)
        if parent not in links or child not in links:
            raise RobotDescriptionError(f"{where}: joint {name!r} connects {parent!r} to {child!r}, "
                                        "and at least one of them is not a <link> of this file")
        if child in parent_of:
            raise RobotDescriptionError(
                f"{where}: link {child!r} is the child of joints {parent_of[child][0]!r} and {name!r}: the "
                "description has a loop (a closed kinematic chain); a Robot needs a tree")
        parent_of[child] = (name, parent)
        limit = joint.find("limit")
        lower = _float(limit, "lower") if limit is not None else None
        upper = _float(limit, "upper") if limit is not None else None
        has_limit = kind in ("revolute", "prismatic") and limit is not None and (lower or 0.0) < (upper or 0.0)
        joints[name] = JointInfo(name, kind, has_limit,
                                 _float(limit, "velocity") if limit is not None else None,
                                 _float(limit, "effort") if limit is not None else None)
    for start in parent_of:  # walk up from every link: a cycle never reaches a root
        seen, link = set(), start
        while link in parent_of:
            if link in seen:
                raise RobotDescriptionError(f"{where}: the joints around link {link!r} form a loop")
            seen.add(link)
            link = parent_of[link][1]
    return joints


def _load_urdf(root: ET.Element, where: str, folder: pathlib.Path | None,
               package_map: Mapping[str, str] | None) -> Description:
    if any("xacro" in (el.tag or "") or any("${" in v for v in el.attrib.values()) for el in root.iter()):
        raise RobotDescriptionError(f"{where}: contains xacro macros; expand it first (xacro robot.urdf.xacro > "
                                    "robot.urdf) or pass the /robot_description that robot_state_publisher serves")
    joints = _urdf_joints(root, where)
    for link in root.findall("link"):
        for visual in link.findall("visual"):
            link.remove(visual)
        for collision in link.findall("collision"):
            for mesh in collision.iter("mesh"):
                uri = mesh.get("filename", "")
                try:
                    mesh.set("filename", str(resolve_uri(uri, folder, package_map)))
                except RobotDescriptionError as exc:
                    raise RobotDescriptionError(f"{where}: link {link.get('name')!r}: {exc}") from None
    for tag in ("transmission", "gazebo"):
        for element in root.findall(tag):
            root.remove(element)
    extension = root.find("mujoco")
    if extension is None:
        extension = ET.SubElement(root, "mujoco")
    compiler = extension.find("compiler")
    if compiler is None:
        compiler = ET.SubElement(extension, "compiler")
    compiler.attrib.update(balanceinertia="true", fusestatic="false", discardvisual="true", strippath="false")
    try:
        spec = mujoco.MjSpec.from_string(ET.tostring(root, encoding="unicode"))
    except ValueError as exc:
        raise RobotDescriptionError(f"{where}: MuJoCo cannot read this URDF: {exc}") from None
    _strip_controllers(spec)
    return Description(spec, where, "urdf", joints, root.get("name") or "robot")


# ------------------------------------------------------------------------------------------------- MJCF


def _load_mjcf(text: str, path: pathlib.Path | None, where: str) -> Description:
    try:
        spec = mujoco.MjSpec.from_file(str(path)) if path is not None else mujoco.MjSpec.from_string(text)
        model = spec.compile()
    except ValueError as exc:
        hint = "" if path is not None else " (an MJCF given as text resolves mesh files from the working " \
                                           "directory: give the file path instead)"
        raise RobotDescriptionError(f"{where}: MuJoCo cannot compile this MJCF: {exc}{hint}") from None
    kinds = {mujoco.mjtJoint.mjJNT_HINGE: "hinge", mujoco.mjtJoint.mjJNT_SLIDE: "slide",
             mujoco.mjtJoint.mjJNT_BALL: "ball", mujoco.mjtJoint.mjJNT_FREE: "free"}
    joints = {}
    for j in range(model.njnt):
        name = model.joint(j).name
        lo, hi = model.jnt_range[j]
        joints[name] = JointInfo(name, kinds[model.jnt_type[j]], bool(model.jnt_limited[j]) and lo < hi)
    _strip_controllers(spec)
    return Description(spec, where, "mjcf", joints, spec.modelname or "robot")


def _strip_controllers(spec: mujoco.MjSpec) -> None:
    """Remove the source's actuators, sensors and keyframes (the sim cell adds its own controllers, and a
    keyframe sized for the source model breaks once the arm stands in a scene)."""
    for element in (*spec.actuators, *spec.sensors, *spec.keys):
        spec.delete(element)
