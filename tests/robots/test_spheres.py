"""Check spheres cover every collision surface of the moving links, fingers at any opening included.

Points are sampled on the surfaces of the collision geoms (contype or conaffinity nonzero) of every body an arm
joint moves, from the compiled model alone (mesh faces and every mesh vertex, box / capsule / cylinder / sphere /
ellipsoid surfaces), at random arm configurations and random finger positions within their ranges; each must lie
inside a check sphere, placed by mj_kinematics. Independent of robots/spheres.py.
"""
from __future__ import annotations

import dataclasses

import mujoco
import pytest

from jepa_mpc.robots import Robot, RobotConfig
from jepa_mpc.robots import robot as robot_module

from .conftest import ALL_ARMS, ARMS, PANDA, XARM6
from .reference import aux_joint_ranges, moving_collision_geoms, sphere_coverage


@pytest.mark.parametrize("arm", ALL_ARMS, indirect=True)
def test_check_spheres_cover_every_collision_surface(arm):
    geoms = moving_collision_geoms(arm)
    assert geoms, f"{arm.name}: no collision geoms on the moving links"
    coverage = sphere_coverage(arm, arm.spheres, configs=12 if arm.cfg.description in ARMS else 4)
    assert coverage.uncovered == 0, (f"{arm.name}: {coverage.uncovered} of {len(coverage.depth)} surface points "
                                     f"outside every check sphere; worst: {coverage.worst()}")
    # The spheres are fitted to enclose the geometry exactly, then grown by the margin: every surface point lies
    # at least the margin inside some sphere.
    margin = arm.cfg.sphere_margin_m
    assert coverage.depth.min() >= margin - 1e-6, (
        f"{arm.name}: a surface point is only {coverage.depth.min() * 1000:.2f} mm inside its sphere "
        f"(margin {margin * 1000:.0f} mm)")


@pytest.mark.parametrize("arm", ARMS, indirect=True)
def test_spheres_are_on_arm_moved_bodies_and_sized_sensibly(arm):
    m = arm.model
    arm_joints = {mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in arm.model_joint_names}
    for sphere in arm.spheres:
        body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, sphere.frame)
        assert body > 0, f"{sphere.name}: not on a body"
        # Carried by a body that only arm joints move (so the torch FK can place it), below at least one of them.
        joints, b = [], body
        while b != 0:
            joints.extend(range(m.body_jntadr[b], m.body_jntadr[b] + m.body_jntnum[b]))
            b = int(m.body_parentid[b])
        assert joints and set(joints) <= arm_joints, f"{sphere.name}: moved by {joints}, arm joints {arm_joints}"
        assert arm.cfg.sphere_margin_m < sphere.radius < 0.2, f"{sphere.name}: radius {sphere.radius:.3f} m"
    # Not one sphere per triangle, not one for the whole arm.
    assert arm.dof <= len(arm.spheres) <= 8 * m.nbody
    assert arm.check_points == (arm.tool, *arm.spheres)
    assert len({p.name for p in arm.check_points}) == len(arm.check_points)


@pytest.mark.parametrize("arm", [PANDA, XARM6], indirect=True)
def test_the_coverage_check_finds_a_missing_link(arm):
    """Without the spheres of the last link, its surface is found uncovered (the check can fail)."""
    last = arm.spheres[-1].frame
    kept = [s for s in arm.spheres if s.frame != last]
    coverage = sphere_coverage(arm, kept, configs=2)
    assert coverage.uncovered > 0
    m = arm.model
    below = {b for b in range(m.nbody) if _ancestors(m, b) & {m.body(last).id}}
    missed = {int(m.geom_bodyid[g]) for g in coverage.geom[coverage.depth < 0]}
    assert missed <= below, f"uncovered points on {[m.body(b).name for b in missed - below]}"


def _ancestors(m: mujoco.MjModel, body: int) -> set[int]:
    out = {body}
    while body != 0:
        body = int(m.body_parentid[body])
        out.add(body)
    return out


def test_the_coverage_check_finds_spheres_one_centimetre_too_small(monkeypatch):
    """A Robot built with every fitted radius 1 cm smaller (and no margin) leaves surface points uncovered."""
    def shrunk(*args, **kwargs):
        return [dataclasses.replace(s, radius=s.radius - 0.01) for s in fit_spheres(*args, **kwargs)]

    fit_spheres = robot_module.fit_spheres
    monkeypatch.setattr(robot_module, "fit_spheres", shrunk)
    broken = Robot(RobotConfig(PANDA, sphere_margin_m=0.0))
    coverage = sphere_coverage(broken, broken.spheres, configs=4)
    assert coverage.uncovered > 100, coverage.uncovered
    assert -coverage.depth.min() > 0.005


@pytest.mark.parametrize("arm", ARMS, indirect=True)
def test_table_check_is_off_only_for_the_first_link_and_the_fingers(arm):
    """The table clearance is waived for spheres no arm joint can lower (the first link, turning about the
    vertical) and for the spheres swept over the fingers (they touch what lies on the table)."""
    m = arm.model
    first = m.body(m.jnt_bodyid[m.joint(arm.model_joint_names[0]).id]).name
    finger_carriers = {m.body(m.body_parentid[m.jnt_bodyid[m.joint(n).id]]).name for n in arm.aux_joint_names}
    exempt = {s.frame for s in arm.spheres if not s.table_check}
    assert first in exempt
    assert exempt <= {first} | finger_carriers, exempt
    if aux_joint_ranges(arm):  # a gripper: its swept spheres are exempt, the carrier's own ones are not
        assert exempt & finger_carriers
        assert any(s.table_check and s.frame in finger_carriers for s in arm.spheres)
    assert sum(s.table_check for s in arm.spheres) > len(arm.spheres) // 2
