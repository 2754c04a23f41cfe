"""The campaign engine: the budget split over the categories, hypothesis exploring each category's strata with a
fixed seed (statistics on every case), and shrinking the first failure to a minimal counterexample."""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterable

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from jepa_mpc.apps.guardrail_campaign.cases import CATEGORIES, FILTER_CATEGORIES, MPC_CATEGORIES, Outcome
from jepa_mpc.apps.guardrail_campaign.draws import Grammar
from jepa_mpc.apps.guardrail_campaign.report import CampaignResult, CategoryResult
from jepa_mpc.apps.guardrail_campaign.runners import CampaignSetup, run_filter_case, run_loop_case, run_mpc_case
from jepa_mpc.apps.guardrail_campaign.strategies import (
    ADVERSARIAL_STRATA,
    GOAL_STRATA,
    INPUT_STRATA,
    LOOP_STRATA,
    SWEPT_STRATA,
    TARGET_STRATA,
    Adversary,
)

logger = logging.getLogger(__name__)

FILTER_SHARES = {"filter.targets": 0.35, "filter.swept": 0.15, "filter.inputs": 0.20, "filter.closed_loop": 0.30}
DEFAULT_MPC_FRACTION = 0.03
EXPLORERS = ("numpy", "hypothesis")
"""How filter cases are drawn (run_campaign's explorer): NumPy (fast) or hypothesis's engine."""
SHRINK_BUDGET_S = 60.0


def split_budget(cases: int, mpc_fraction: float = DEFAULT_MPC_FRACTION) -> dict[str, int]:
    """Cases per category; `mpc_fraction` of them (at least one per category) through the full MPC."""
    if cases < len(CATEGORIES):
        raise ValueError(f"need at least {len(CATEGORIES)} cases (one per category), got {cases}")
    n_mpc = min(max(len(MPC_CATEGORIES), round(cases * mpc_fraction)), cases - len(FILTER_CATEGORIES))
    n_filter = cases - n_mpc
    out = {name: max(1, int(n_filter * share)) for name, share in FILTER_SHARES.items()}
    out[FILTER_CATEGORIES[0]] += n_filter - sum(out.values())
    out[MPC_CATEGORIES[0]] = n_mpc // 2
    out[MPC_CATEGORIES[1]] = n_mpc - n_mpc // 2
    return out


def _hypothesis_settings(max_examples: int, phases: Iterable[Phase]) -> settings:
    return settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=False,  # a fixed @seed instead: reproducible, and different per category
        phases=tuple(phases),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
    )


class _ViolationFoundError(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class CategorySpec:
    """How a category makes and runs its cases: strata share its budget evenly."""

    strata: tuple[str, ...]
    grammar: Callable[[str], Grammar]
    runner: Callable[[object], Outcome]


def _stratum_budgets(budget: int, strata: int) -> list[int]:
    return [budget // strata + (i < budget % strata) for i in range(strata)]


def _explorer(
    result: CategoryResult, runner: Callable[[object], Outcome], target: int, on_case: Callable[[], None]
) -> Callable[[object], None]:
    """The exploring property: run a case and record it (never fails, so hypothesis never stops)."""

    def explore(case: object) -> None:
        if result.cases >= target:
            return
        result.add(case, runner(case))
        on_case()

    return explore


def _run_category(
    result: CategoryResult,
    spec: CategorySpec,
    seed: int,
    on_case: Callable[[], None],
    shrink: bool,
    fast: bool = False,
) -> None:
    """Explore `result.budget` cases over the strata (stats on every case); then let hypothesis
    shrink the first failure (same stratum, same seed: it replays the search up to that failure).

    fast: draw the cases with NumPy (Grammar.sample, seeded per stratum) instead of hypothesis's engine. A failure
    is then searched for and shrunk by hypothesis in the same stratum within SHRINK_BUDGET_S; when hypothesis does
    not meet one in time, the report gives the first failing case unshrunk."""
    start = time.perf_counter()
    failing: tuple[st.SearchStrategy, int, int] | None = None  # (strategy, seed, max_examples)
    for index, (stratum, budget) in enumerate(
        zip(spec.strata, _stratum_budgets(result.budget, len(spec.strata)), strict=True)
    ):
        grammar = spec.grammar(stratum)
        strategy = grammar.strategy
        target = result.cases + budget
        if fast:  # NumPy draws, no hypothesis engine per case (draws.py); hypothesis only shrinks a failure
            rng = np.random.default_rng([seed % 2**63, index])
            before = result.violating_cases
            while result.cases < target:
                case = grammar.sample(rng)
                result.add(case, spec.runner(case))
                on_case()
            if failing is None and result.violating_cases > before:
                failing = (strategy, seed + 104_729 * index, budget)
            continue
        for attempt in range(5):  # hypothesis may stop early on a small space; rarely needed
            if result.cases >= target:
                break
            run_seed = seed + 104_729 * index + 7919 * attempt
            before, max_examples = result.violating_cases, target - result.cases
            test = given(strategy)(_explorer(result, spec.runner, target, on_case))
            test = _hypothesis_settings(max_examples, [Phase.generate])(test)
            hypothesis_seed(run_seed)(test)()
            if failing is None and result.violating_cases > before:
                failing = (strategy, run_seed, max_examples)
    found: dict[str, tuple[object, Outcome]] = {}
    if failing is not None and shrink:
        strategy, run_seed, max_examples = failing
        deadline = time.monotonic() + SHRINK_BUDGET_S

        def falsify(case: object) -> None:
            if time.monotonic() > deadline:
                return
            outcome = spec.runner(case)
            if outcome.violations:
                found["last"] = (case, outcome)
                raise _ViolationFoundError

        test = given(strategy)(falsify)
        test = _hypothesis_settings(max_examples, [Phase.generate, Phase.shrink])(test)
        try:
            hypothesis_seed(run_seed)(test)()
        except Exception as exc:  # noqa: BLE001 - the shrunk failure, or hypothesis noticing the deadline
            logger.debug("shrinking %s ended with %r", result.name, exc)
        result.shrunk = "last" in found
    if result._first_failure is not None:
        case, outcome = found["last"] if result.shrunk else result._first_failure
        result.counterexample = case.describe()  # type: ignore[attr-defined]
        result.counterexample_violations = [str(v) for v in outcome.violations[:10]]
        result.counterexample_trace = [str(line) for line in outcome.trace[-6:]]
    result.seconds = time.perf_counter() - start


def run_campaign(
    setup: CampaignSetup,
    cases: int,
    *,
    seed: int = 0,
    mpc_fraction: float = DEFAULT_MPC_FRACTION,
    progress: bool = True,
    shrink: bool = True,
    categories: Iterable[str] | None = None,
    explorer: str = "numpy",
) -> CampaignResult:
    """Run the campaign: `cases` in all, split over the categories (see split_budget).

    explorer: "numpy" draws every category's cases with a seeded NumPy generator (fast: no hypothesis engine per
    case; hypothesis still searches for and shrinks a failure); "hypothesis" draws every case with hypothesis
    (slower)."""
    if explorer not in EXPLORERS:
        raise ValueError(f"unknown explorer {explorer!r}; valid: {EXPLORERS}")
    budget = split_budget(cases, mpc_fraction)
    chosen = list(categories) if categories is not None else list(CATEGORIES)
    unknown = set(chosen) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown categories {sorted(unknown)}; valid: {list(CATEGORIES)}")
    adv = Adversary(setup)

    def mpc_runner(case: object) -> Outcome:
        return run_mpc_case(setup, adv, case)  # type: ignore[arg-type]

    specs = {
        "filter.targets": CategorySpec(TARGET_STRATA, adv.filter_targets, lambda c: run_filter_case(setup, c)),
        "filter.swept": CategorySpec(SWEPT_STRATA, adv.filter_swept, lambda c: run_filter_case(setup, c)),
        "filter.inputs": CategorySpec(INPUT_STRATA, adv.filter_inputs, lambda c: run_filter_case(setup, c)),
        "filter.closed_loop": CategorySpec(LOOP_STRATA, adv.closed_loop, lambda c: run_loop_case(setup, adv, c)),
        "mpc.goals": CategorySpec(GOAL_STRATA, lambda s: adv.mpc(s, adversarial=False), mpc_runner),
        "mpc.adversarial": CategorySpec(ADVERSARIAL_STRATA, lambda s: adv.mpc(s, adversarial=True), mpc_runner),
    }
    results = {name: CategoryResult(name, budget[name]) for name in CATEGORIES if name in chosen}
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        total = sum(r.budget for r in results.values())
        bar = tqdm(total=total, unit="case", file=sys.stderr, dynamic_ncols=True)
    on_case = (lambda: bar.update(1)) if bar is not None else (lambda: None)
    # Holds and rejections are expected by the thousand: the planner's log lines are counted instead.
    planner_logger = logging.getLogger("jepa_mpc.planner")
    level = planner_logger.level
    planner_logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():  # garbage inputs make NumPy warn (complex casts, overflow)
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            for index, (name, result) in enumerate(results.items()):
                if bar is not None:
                    bar.set_description(name)
                fast = explorer == "numpy"
                _run_category(result, specs[name], seed * 1000 + index * 17, on_case, shrink, fast)
    finally:
        planner_logger.setLevel(level)
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start
    return CampaignResult(
        setup.params.source, setup.checkpoint_name, seed, cases, results, elapsed, setup.params.warnings,
        robot=setup.robot.name, robot_summary=robot_summary(setup),
    )


def robot_summary(setup: CampaignSetup) -> str:
    """One line on the arm and the cell under test (for the report's header)."""
    robot, g = setup.robot, setup.base_guardrails

    def box(v: tuple[float, ...]) -> str:
        return "(" + ", ".join(f"{x:.2f}" for x in v) + ")"

    return (f"{robot.dof} joints, reach {robot.reach_m:.2f} m, {len(robot.spheres)} check spheres; "
            f"workspace {box(g.workspace_lo)}..{box(g.workspace_hi)}, table z {g.table_z_m:.2f}; "
            f"{len(g.keep_out)} keep-out, {len(g.speed_zones)} speed zone(s) configured")


