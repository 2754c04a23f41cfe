"""Mutation runner for docs/safety.md: break each promise on purpose, run the test that proves it, count the catches.

    python -m tests.safety_mutations [--list] [--only ID ...] [--baseline]

Each mutation disables the line that keeps one promise (a textual patch compiled in place of the module's source
at import, in pytest and every process it starts: tests/mutation_hook.py; no file is edited). The promise's
proving tests must then fail. Prints one line per mutation and `caught N/M`; exits 1 unless every one is caught.
`--baseline` first runs every proving test unmutated (they must pass, or a "catch" would mean nothing).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SF = "tests/planner/test_safety_filter.py"
NODE = "tests/ros/test_safety_filter_node.py"
MOTION = "tests/ros/test_safety_filter_node_motion.py"
INPUTS = "tests/ros/test_safety_filter_node_inputs.py"


@dataclasses.dataclass(frozen=True)
class Mutation:
    promise: str  # the row of docs/safety.md's promises table
    module: str
    replace: tuple[tuple[str, str], ...]
    tests: tuple[str, ...]  # pytest node ids that must fail
    more: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # (module, replacements) of other modules

    def patches(self) -> dict:
        """module -> [(old, new), ...]"""
        return {self.module: list(self.replace), **{module: list(pairs) for module, pairs in self.more}}


MUTATIONS: dict[str, Mutation] = {
    "joint_limits": Mutation(
        "Joint position limits", "jepa_mpc.planner.safety",
        (("self.lower, self.upper = limits.lower, limits.upper",
          "self.lower, self.upper = limits.lower - 0.5, limits.upper + 0.5"),),
        (f"{SF}::test_clamps_joint_limits_and_step",)),
    "step_bound": Mutation(
        "Per-step (velocity) bound", "jepa_mpc.planner.safety",
        (("step = np.clip(clipped - prev, -self.max_step, self.max_step)", "step = clipped - prev"),),
        (f"{SF}::test_clamps_joint_limits_and_step", f"{NODE}::test_too_large_step_is_clamped")),
    "workspace": Mutation(
        "Workspace box", "jepa_mpc.planner.safety",
        (("out.append(SafetyReason.WORKSPACE_EXIT)", "pass"),),
        (f"{SF}::test_cartesian_violations_hold",)),
    "keep_out_every_sphere": Mutation(
        "Keep-out zones with clearance", "jepa_mpc.planner.safety",
        (("_zone_sdf(z, pts) < need)", "_zone_sdf(z, pts[..., [self._ee], :]) < need[[self._ee]])"),),
        (f"{MOTION}::test_no_check_sphere_enters_a_keep_out_zone",
         f"{SF}::test_property_random_zones_sent_commands_respect_them")),
    "table": Mutation(
        "Table", "jepa_mpc.planner.safety",
        (("out.append(SafetyReason.TABLE)", "pass"),),
        (f"{SF}::test_cartesian_violations_hold",)),
    "speed_zones": Mutation(
        "Speed zones", "jepa_mpc.planner.safety",
        (("out.append(SafetyReason.ZONE_SPEED)", "pass"),),
        (f"{SF}::test_zone_speed_scales_the_step_down",)),
    "non_finite_state": Mutation(
        "NaN / inf / bad input", "jepa_mpc.planner.safety",
        (("if not np.all(np.isfinite(q)):\n            return", "if False:\n            return"),),
        (f"{SF}::test_bad_input_holds_with_a_reason",)),
    "non_finite_command": Mutation(
        "NaN / inf / bad input", "jepa_mpc.planner.safety",
        (("if not np.all(np.isfinite(p)):\n            return", "if False:\n            return"),),
        (f"{SF}::test_bad_input_holds_with_a_reason",)),
    "stale_stamp": Mutation(
        "NaN / inf / bad input", "jepa_mpc.planner.stamps",
        (("if now - stamp > max_age_s:", "if False:"),),  # the filter's and the node's joint-state staleness alike
        (f"{SF}::test_bad_input_holds_with_a_reason", "tests/planner/test_stamps.py",
         f"{NODE}::test_stale_sensor_means_hold_within_two_periods")),
    "future_stamp": Mutation(
        "NaN / inf / bad input", "jepa_mpc.planner.stamps",
        (("if stamp - now > max_future_s:", "if False:"),),
        (f"{SF}::test_bad_input_holds_with_a_reason", "tests/planner/test_stamps.py")),
    "hold_never_moves": Mutation(
        "A hold never moves", "jepa_mpc.planner.safety",
        (("return SafetyCommand(ref.copy()[None], None, True)", "return SafetyCommand(ref[None] + 1e-3, None, True)"),),
        (f"{SF}::test_bad_input_holds_with_a_reason",)),
    "node_hold_never_moves": Mutation(
        "A hold never moves", "jepa_mpc.ros_nodes.safety_filter_node",
        (("self._send(target[None], now, target)", "self._send(target[None] - 1e-3, now, target)"),),
        (f"{MOTION}::test_stale_plan_stops_commands_within_two_periods",)),
    "watchdog_camera": Mutation(
        "Watchdog", "jepa_mpc.ros_nodes.safety_filter_node",
        (('("camera", self._image_stamp, self.cfg.max_image_age_s)', '("camera", self._image_stamp, math.inf)'),),
        (f"{NODE}::test_stale_sensor_means_hold_within_two_periods",)),
    "watchdog_plan": Mutation(
        "Watchdog", "jepa_mpc.ros_nodes.safety_filter_node",
        (("else -math.inf, self.cfg.max_plan_age_s)", "else -math.inf, math.inf)"),),
        (f"{MOTION}::test_stale_plan_stops_commands_within_two_periods",)),
    "watchdog_malformed_frames": Mutation(
        "Watchdog", "jepa_mpc.ros_nodes.safety_filter_node",
        (("                check_colour_image_msg(msg)\n", "                pass\n"),),
        (f"{INPUTS}::test_malformed_frames_do_not_keep_the_camera_alive",)),
    "watchdog_future_stamps": Mutation(
        "Watchdog", "jepa_mpc.ros_nodes.safety_filter_node",
        (("self.now_s(), self.filter.cfg.max_future_stamp_s)", "self.now_s(), math.inf)"),
         ("ahead = self.filter.cfg.max_future_stamp_s", "ahead = math.inf")),
        (f"{INPUTS}::test_a_future_stamp_does_not_keep_a_stream_fresh",)),
    "mpc_node_future_stamps": Mutation(
        "Watchdog", "jepa_mpc.ros_nodes.mpc_node",
        (("return checked_stamp_s(msg.header.stamp, self.now_s(), ahead)",
          "return checked_stamp_s(msg.header.stamp, self.now_s(), float('inf'))"),),
        ("tests/ros/test_mpc_node_stamps.py",)),
    "estop_latch": Mutation(
        "E-stop latch", "jepa_mpc.ros_nodes.safety_filter_node",
        (("        self.estopped = True\n", ""),),
        (f"{MOTION}::test_estop_in_motion_holds_within_one_period_and_reset_discards_the_plan",)),
    "reset_discards_plan": Mutation(
        "E-stop latch", "jepa_mpc.ros_nodes.safety_filter_node",
        (("self._plan = None  # never resume an old plan after a stop", "pass"),),
        (f"{MOTION}::test_estop_in_motion_holds_within_one_period_and_reset_discards_the_plan",)),
    "node_resync_moved_arm": Mutation(
        "A hold never moves", "jepa_mpc.ros_nodes.safety_filter_node",
        (("self._controller, self._last_step = None, None  # its motion and velocity are not the arm's any more",
          "return self._controller.target_at(now)"),),
        (f"{MOTION}::test_an_arm_moved_by_something_else_is_held_where_it_is_not_pulled_back",)),
    "plan_start_tracking": Mutation(
        "A hold never moves", "jepa_mpc.planner.arm_adapter",
        (("q_command = None  # not where the arm is", "pass"),),
        ("tests/planner/test_mpc.py::test_a_last_command_the_arm_is_nowhere_near_is_not_where_the_plan_starts",)),
    "reset_restarts_from_arm": Mutation(
        "E-stop latch", "jepa_mpc.ros_nodes.safety_filter_node",
        (("self._controller, self._last_step = None, None  # the next command starts from the measured arm", "pass"),),
        (f"{MOTION}::test_after_an_estop_reset_commands_start_from_the_arm_even_if_it_was_moved_a_little",)),
    "node_acceleration": Mutation(
        "Acceleration", "jepa_mpc.ros_nodes.safety_filter_node",
        (("qd_ref = None if self._last_step is None else self._last_step / self.cfg.control_period_s",
          "qd_ref = None"),),
        (f"{MOTION}::test_node_bounds_acceleration_from_its_last_two_commands",)),
    "launch_values": Mutation(
        "Per-step (velocity) bound", "jepa_mpc.ros_nodes.safety_filter_node",
        (("max_joint_step_rad=self.max_step_rad)", "max_joint_step_rad=0.05)"),),
        ("tests/ros/test_launch_files.py::test_real_arm_yaml_values_reach_the_nodes",)),
    "garbage_model_plans_ok": Mutation(
        "Model- and optimiser-independent", "jepa_mpc.planner.cem",
        (("    if found:\n        return PlanStatus.OK", "    if True:\n        return PlanStatus.OK"),),
        ("tests/planner/test_planner_properties.py::test_property_garbage_predictor_never_yields_a_violating_plan",),
        more=(("jepa_mpc.planner.solver", (("if feasible and finite:", "if True:"),)),)),
    "guardrail_always_feasible": Mutation(
        "Model- and optimiser-independent", "jepa_mpc.planner.guardrails",
        (("return _result(torch.relu(rollout.qd.abs() - self.max_vel).sum(dim=(1, 2)))",
          "return _result(0 * torch.relu(rollout.qd.abs() - self.max_vel).sum(dim=(1, 2)))"),),
        ("tests/planner/test_registry_contract.py::test_every_guardrail",)),
    "campaign_proprio_nan": Mutation(
        "Campaign: unreadable joint readings are NaN", "jepa_mpc.apps.guardrail_campaign.runners",
        (("arm = np.asarray(q, dtype=np.float32)\n", "arm = np.asarray(q, dtype=np.float32).reshape(-1)\n"),
         ("if (arm is None or arm.ndim != 1 or not 0 < arm.size <= self.proprio_dim\n"
          "                or (robot is not None and arm.size != robot.dof)):",
          "if arm is None or arm.size > self.proprio_dim:")),
        ("tests/apps/test_campaign_proprio.py",)),
    "checkpoint_overwritten_in_place": Mutation(
        "Atomic checkpoint writes", "jepa_mpc.models.run_state",
        (('path = folder / f"step_{step:07d}.pt"', 'path = folder / "state.pt"'),
         ("digest = atomic_write(path, lambda f: torch.save(state, f))",
          "path.parent.mkdir(parents=True, exist_ok=True)\n    with open(path, 'wb') as f:\n"
          "        torch.save(state, f)\n    digest = sha256_file(path)")),
        ("tests/models/test_train_kill.py",)),
}

SITECUSTOMIZE = """import importlib.util
_spec = importlib.util.spec_from_file_location("_jepa_mutation_hook", {hook!r})
_hook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_hook)
_hook.install()
"""


def check_applies(mutation: Mutation) -> None:
    """Raise ValueError when a mutation's text no longer matches its module's source exactly once."""
    import importlib.util

    from tests.mutation_hook import mutate

    for module, pairs in mutation.patches().items():
        mutate(pathlib.Path(importlib.util.find_spec(module).origin).read_text(), pairs)


def run_tests(tests, mutation: Mutation | None, hook_dir: str, timeout_s: float) -> tuple[int, str]:
    """(pytest's exit code, its last lines) for `tests`, under `mutation` when given."""
    env = dict(os.environ)
    env.pop("JEPA_SAFETY_MUTATION", None)
    if mutation is not None:
        env["JEPA_SAFETY_MUTATION"] = json.dumps(mutation.patches())
        env["PYTHONPATH"] = os.pathsep.join(p for p in (hook_dir, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--no-header", "-o",
           "addopts=", *tests]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return -1, "timed out"
    return proc.returncode, "\n".join(proc.stdout.strip().splitlines()[-3:])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="mutation ids (default: all)")
    parser.add_argument("--list", action="store_true", help="print the mutations and their tests, run nothing")
    parser.add_argument("--baseline", action="store_true", help="first run the proving tests unmutated")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per pytest run")
    args = parser.parse_args(argv)
    chosen = {k: MUTATIONS[k] for k in (args.only or MUTATIONS)}
    if args.list:
        for key, m in chosen.items():
            print(f"{key:28s} {m.promise:32s} {m.module}  ->  {' '.join(m.tests)}")
        return 0
    with tempfile.TemporaryDirectory() as hook_dir:
        hook = ROOT / "tests" / "mutation_hook.py"
        (pathlib.Path(hook_dir) / "sitecustomize.py").write_text(SITECUSTOMIZE.format(hook=str(hook)))
        if args.baseline:
            tests = sorted({t for m in chosen.values() for t in m.tests})
            code, tail = run_tests(tests, None, hook_dir, args.timeout * 2)
            print(f"baseline (unmutated): {'pass' if code == 0 else 'FAIL'}\n{tail}")
            if code != 0:
                return 2
        caught = 0
        for key, m in chosen.items():
            start = time.monotonic()
            try:
                check_applies(m)
            except ValueError as exc:
                print(f"STALE   {key:28s} {exc}")
                continue
            code, tail = run_tests(m.tests, m, hook_dir, args.timeout)
            ok = code == 1  # 1: tests ran and failed; anything else (errors, no tests) is not a catch
            caught += ok
            last = tail.splitlines()[-1] if tail else ""
            print(f"{'caught' if ok else 'MISSED'}  {key:28s} {m.promise:32s} {time.monotonic() - start:5.1f}s  {last}")
        print(f"caught {caught}/{len(chosen)}")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
