"""`jepa-mpc guardrail-test`: a property-based campaign against the planner and the safety filter, for any arm.

With the user's robot (`--robot`: a name, a URDF or an MJCF) and the user's limits and zones (read from the same
YAML parameter file the ROS nodes use, or derived from the robot when there is none), hypothesis generates random
and adversarial cases:

- filter.targets: joint targets near, far, beyond the joint limits, huge, or pushed by the Jacobian
  towards a keep-out zone, out of the workspace or into the table; random extra keep-out and
  speed-zone geometry placed around the arm; references and velocities that are trustworthy or not.
- filter.inputs: corrupted inputs: NaN / inf / wrong-shape / out-of-limit joint states, references,
  velocities, grippers and proposals; stale, future, non-finite stamps and time jumps.
- filter.closed_loop: several ticks where the arm follows what was sent (with tracking noise and
  slips), the planner keeps pushing, and the clock jumps back and forth.
- mpc.goals: the full MPC tick (encode -> small CEM -> final check -> safety filter) with the
  checkpoint's world model (for an arm without one: a kinematic NullWorldModel, i.e. pose goals through the
  arm's known kinematics): goals inside keep-out zones, outside the workspace, unreachable, below
  the table, NaN; image and latent goals; extreme cost weights; adversarial critics.
- mpc.adversarial: the same tick with garbage world models (NaN, inf, huge, action-dependent
  garbage), corrupted images (NaN / inf floats, all-zero, saturated, wrong size, dtype or channels,
  empty), corrupted joint states and stale or future stamps.

The property of every case: everything the safety filter outputs, and every OK plan the MPC returns,
passes an independent checker (planner.guardrail_checker: true kinematics with mj_kinematics, the
arm's action semantics). The plan of an MPC case also goes through a second filter configured
like the `safety_filter` node, as /planned_trajectory does in the ROS graph. A violating case is
shrunk by hypothesis to a minimal counterexample. The exit status is 1 when anything violated a
guardrail.

Modules, one job each: `cases` (what a case is, and what it did), `params` (the configuration under test: YAML
or the robot's defaults -> configs), `draws` (one grammar of choices, drawn by hypothesis or, ~15x cheaper, by a
seeded NumPy generator), `strategies` (the Adversary: the grammars that build cases around the robot and its
configuration), `runners` (the setup, the world models under test, and running one case),
`campaign` (budget, exploration and shrinking over the categories), `report` (statistics, text and JSON),
`cli` (`add_arguments` / `run`).
"""

from jepa_mpc.apps.guardrail_campaign.campaign import run_campaign, split_budget
from jepa_mpc.apps.guardrail_campaign.cases import CATEGORIES, FILTER_CATEGORIES, MPC_CATEGORIES
from jepa_mpc.apps.guardrail_campaign.cli import add_arguments, run
from jepa_mpc.apps.guardrail_campaign.params import CampaignParams, load_params, node_parameters
from jepa_mpc.apps.guardrail_campaign.report import CampaignResult, CategoryResult, format_report
from jepa_mpc.apps.guardrail_campaign.runners import CampaignSetup

__all__ = [
    "CATEGORIES",
    "FILTER_CATEGORIES",
    "MPC_CATEGORIES",
    "CampaignParams",
    "CampaignResult",
    "CampaignSetup",
    "CategoryResult",
    "add_arguments",
    "format_report",
    "load_params",
    "node_parameters",
    "run",
    "run_campaign",
    "split_budget",
]
