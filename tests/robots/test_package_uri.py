"""`package://NAME/PATH` mesh URIs resolve as ROS tools do (robots/package_uri.py): AMENT_PREFIX_PATH's share/NAME,
then ROS_PACKAGE_PATH (a folder named NAME, or one whose package.xml declares NAME), then the user's map
(RobotConfig.package_map), then next to the description file (its folder and its parents); the first existing
file wins, and a URI that resolves nowhere names itself and every place searched.

Each location holds a cube of a different size, so which file MuJoCo loaded shows in the compiled mesh.
"""
from __future__ import annotations

import os
import pathlib
import shutil

import numpy as np
import pytest

from jepa_mpc.robots import Robot, RobotConfig, RobotDescriptionError
from jepa_mpc.robots.description import load_description
from jepa_mpc.robots.package_uri import candidate_dirs, resolve_uri

from . import files

PKG = "jepa_test_meshes"
URI = f"package://{PKG}/meshes/cube.obj"
HALF = {"ament": 0.01, "ros": 0.02, "map": 0.03, "beside": 0.04}


@pytest.fixture(autouse=True)
def _no_ros_environment(monkeypatch):
    """A ROS install on the test machine must not change what resolves."""
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    monkeypatch.delenv("ROS_PACKAGE_PATH", raising=False)


@pytest.fixture
def tree(tmp_path):
    """A package PKG in each of the four places, each with cube.obj of its own size, and a URDF using it."""
    places = {
        "ament": tmp_path / "install" / "share" / PKG,
        "ros": tmp_path / "ros_ws" / "src" / PKG,
        "map": tmp_path / "mapped" / "anything",
        "beside": tmp_path / "robot" / PKG,
    }
    for key, folder in places.items():
        files.cube_obj(folder / "meshes" / "cube.obj", HALF[key])
    urdf = files.write(tmp_path / "robot" / "arm.urdf", files.chain_urdf(2, mesh=URI))
    return {"places": places, "urdf": urdf, "ament_prefix": tmp_path / "install",
            "ros_root": tmp_path / "ros_ws" / "src", "map": {PKG: str(places["map"])}}


def _mesh_half_size(description) -> float:
    """Half the extent of the one mesh the description compiles to."""
    model = description.spec.compile()
    assert model.nmesh == 1
    return float(np.ptp(model.mesh_vert, axis=0).max() / 2)


def test_precedence_ament_then_ros_then_map_then_beside_the_file(tree, monkeypatch):
    urdf, places = tree["urdf"], tree["places"]
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tree["ament_prefix"]))
    monkeypatch.setenv("ROS_PACKAGE_PATH", str(tree["ros_root"]))
    order = [("ament", "AMENT_PREFIX_PATH"), ("ros", "ROS_PACKAGE_PATH"), ("map", None), ("beside", None)]
    for key, variable in order:
        package_map = tree["map"] if key in ("ament", "ros", "map") else None
        found = resolve_uri(URI, urdf.parent, package_map)
        assert found == (places[key] / "meshes" / "cube.obj").resolve(), key
        assert found.is_absolute()
        assert _mesh_half_size(load_description(urdf, package_map)) == pytest.approx(HALF[key]), key
        if variable:
            monkeypatch.delenv(variable)


def test_first_existing_file_wins_within_a_search_path(tree, monkeypatch, tmp_path):
    """An AMENT_PREFIX_PATH entry without the file is skipped, not an error; so is a map entry without it."""
    empty = tmp_path / "empty_prefix"
    (empty / "share" / PKG).mkdir(parents=True)
    monkeypatch.setenv("AMENT_PREFIX_PATH", os.pathsep.join([str(empty), "", str(tree["ament_prefix"])]))
    assert resolve_uri(URI, None) == (tree["places"]["ament"] / "meshes" / "cube.obj").resolve()
    monkeypatch.delenv("AMENT_PREFIX_PATH")
    assert resolve_uri(URI, tree["urdf"].parent, {PKG: str(empty)}) == \
        (tree["places"]["beside"] / "meshes" / "cube.obj").resolve()


def test_ros_package_path_finds_a_package_by_its_package_xml(tmp_path, monkeypatch):
    root = tmp_path / "ws" / "src"
    folder = root / "some_checkout" / "description_folder"  # named unlike the package
    files.write(folder / "package.xml", f"<?xml version='1.0'?>\n<package format='3'>\n  <name>  {PKG} </name>\n"
                "  <version>1.0.0</version>\n</package>\n")
    files.cube_stl(folder / "meshes" / "cube.stl", 0.025)
    decoy = root / "other"  # declares another name: not a match, even though it has the file
    files.write(decoy / "package.xml", "<package><name>other_pkg</name></package>")
    files.cube_stl(decoy / "meshes" / "cube.stl", 0.05)
    monkeypatch.setenv("ROS_PACKAGE_PATH", str(root))
    uri = f"package://{PKG}/meshes/cube.stl"
    assert resolve_uri(uri, None) == (folder / "meshes" / "cube.stl").resolve()
    assert candidate_dirs(PKG, None) == [folder]
    urdf = files.write(tmp_path / "elsewhere" / "arm.urdf", files.chain_urdf(2, mesh=uri))
    assert _mesh_half_size(load_description(urdf)) == pytest.approx(0.025)


def test_ros_package_path_finds_a_folder_named_like_the_package(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    files.cube_stl(second / PKG / "meshes" / "cube.stl", 0.02)
    first.mkdir()
    monkeypatch.setenv("ROS_PACKAGE_PATH", os.pathsep.join([str(first), str(second)]))
    assert resolve_uri(f"package://{PKG}/meshes/cube.stl", None) == (second / PKG / "meshes" / "cube.stl").resolve()


def test_beside_the_file_searches_its_folder_then_the_parents(tmp_path):
    files.cube_obj(tmp_path / "desc" / PKG / "meshes" / "cube.obj", 0.015)
    urdf = files.write(tmp_path / "desc" / "urdf" / "robots" / "arm.urdf", files.chain_urdf(2, mesh=URI))
    assert resolve_uri(URI, urdf.parent) == (tmp_path / "desc" / PKG / "meshes" / "cube.obj").resolve()
    assert _mesh_half_size(load_description(urdf)) == pytest.approx(0.015)


def test_relative_and_file_uris(tmp_path):
    mesh = files.cube_obj(tmp_path / "meshes" / "cube.obj", 0.01)
    assert resolve_uri("meshes/cube.obj", tmp_path) == mesh.resolve()
    assert resolve_uri(f"file://{mesh}", None) == mesh.resolve()
    assert resolve_uri(str(mesh), None) == mesh.resolve()
    with pytest.raises(RobotDescriptionError, match="not found at"):
        resolve_uri("meshes/missing.obj", tmp_path)
    with pytest.raises(RobotDescriptionError, match="package://NAME/PATH"):
        resolve_uri("package://just_a_name", tmp_path)


def test_a_uri_that_resolves_nowhere_names_every_place_searched(tmp_path, monkeypatch):
    prefixes = [tmp_path / "prefix1", tmp_path / "prefix2"]
    ros_root, mapped = tmp_path / "ros", tmp_path / "mapped"
    for folder in (*prefixes, ros_root, mapped):
        folder.mkdir()
    monkeypatch.setenv("AMENT_PREFIX_PATH", os.pathsep.join(map(str, prefixes)))
    monkeypatch.setenv("ROS_PACKAGE_PATH", str(ros_root))
    uri = "package://jepa_no_such_pkg/meshes/link1.stl"
    urdf = files.write(tmp_path / "robot" / "arm.urdf", files.chain_urdf(2, mesh=uri))
    with pytest.raises(RobotDescriptionError) as info:
        load_description(urdf, {"jepa_no_such_pkg": str(mapped)})
    message = str(info.value)
    here = urdf.parent.resolve()
    searched = [prefix / "share" / "jepa_no_such_pkg" / "meshes" / "link1.stl" for prefix in prefixes]
    searched += [ros_root / "jepa_no_such_pkg" / "meshes" / "link1.stl", mapped / "meshes" / "link1.stl"]
    searched += [folder / "jepa_no_such_pkg" / "meshes" / "link1.stl" for folder in (here, *here.parents)]
    lines = [line.strip() for line in message.splitlines()]
    for place in searched:
        assert str(place) in lines, f"{place} missing from:\n{message}"
    positions = [lines.index(str(place)) for place in searched]
    assert positions == sorted(positions), f"places not listed in search order:\n{message}"
    assert uri in message and str(urdf) in message and "link1" in message
    assert "package_map" in message  # says how to fix it

    # The same through load_robot and RobotConfig.package_map; the map fixes it.
    config = RobotConfig(str(urdf), home=(0.0, 0.0), package_map=(f"jepa_no_such_pkg={mapped}",))
    with pytest.raises(RobotDescriptionError, match="jepa_no_such_pkg"):
        Robot(config)
    files.cube_stl(mapped / "meshes" / "link1.stl", 0.03)
    robot = Robot(config)
    assert robot.dof == 2 and robot.model.nmesh == 1


def test_nothing_to_search_says_so(tmp_path):
    with pytest.raises(RobotDescriptionError, match="nowhere"):
        resolve_uri("package://jepa_no_such_pkg/x.stl", None)


def test_a_urdf_given_as_text_resolves_through_the_environment(tree, monkeypatch):
    """The /robot_description a robot_state_publisher serves has no folder: the environment and the map count."""
    text = tree["urdf"].read_text()
    monkeypatch.setenv("ROS_PACKAGE_PATH", str(tree["ros_root"]))
    assert _mesh_half_size(load_description(text)) == pytest.approx(HALF["ros"])
    monkeypatch.delenv("ROS_PACKAGE_PATH")
    assert _mesh_half_size(load_description(text, tree["map"])) == pytest.approx(HALF["map"])
    with pytest.raises(RobotDescriptionError, match="not found"):
        load_description(text)


# --------------------------------------------------------------------------------- the real xArm6 URDF


def _xarm6() -> tuple[pathlib.Path, pathlib.Path]:
    """The pybullet_data xArm6 URDF and its xarm_description folder (its URIs are package://xarm_description/..)."""
    pytest.importorskip("pybullet_data", reason="pybullet is not installed (it ships the xArm6 URDF)")
    from jepa_mpc.robots.presets import package_dir

    root = package_dir("pybullet_data") / "xarm"
    return root / "xarm6_robot.urdf", root / "xarm_description"


def _mesh_files(description) -> list[str]:
    return [mesh.file for mesh in description.spec.meshes]


def test_xarm6_resolves_beside_its_file():
    urdf, package = _xarm6()
    description = load_description(urdf)
    meshes = _mesh_files(description)
    assert len(meshes) == 7  # one collision mesh per link; visual meshes are dropped
    assert all(m.startswith(str(package.resolve() / "meshes" / "xarm6" / "collision")) for m in meshes), meshes
    assert description.spec.compile().nmesh == 7


def test_xarm6_moved_away_from_its_meshes(tmp_path, monkeypatch):
    urdf, package = _xarm6()
    moved = tmp_path / "xarm6_robot.urdf"
    shutil.copy(urdf, moved)
    with pytest.raises(RobotDescriptionError) as info:
        load_description(moved)
    message = str(info.value)
    assert "package://xarm_description/meshes/xarm6/collision/base_vhacd.obj" in message
    assert str(tmp_path / "xarm_description" / "meshes") in message and "link_base" in message

    def resolved(description):
        assert all(pathlib.Path(m).is_file() and m.startswith(str(package.resolve())) for m in _mesh_files(description))
        return description

    resolved(load_description(moved, {"xarm_description": str(package)}))  # a map
    monkeypatch.setenv("ROS_PACKAGE_PATH", str(package.parent))  # a folder named like the package
    resolved(load_description(moved))
    monkeypatch.delenv("ROS_PACKAGE_PATH")
    prefix = tmp_path / "install"
    (prefix / "share").mkdir(parents=True)
    (prefix / "share" / "xarm_description").symlink_to(package, target_is_directory=True)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))  # an installed ROS 2 package
    assert resolved(load_description(moved)).spec.compile().nmesh == 7
