"""The campaign's statistics and its report: per-category results, the human-readable text and the JSON."""

from __future__ import annotations

import collections
import dataclasses

from jepa_mpc.apps.guardrail_campaign.cases import CAMPAIGN_HORIZON, FILTER_CATEGORIES, Outcome
from jepa_mpc.planner.safety import SafetyReason
from jepa_mpc.planner.types import PlanStatus


@dataclasses.dataclass
class CategoryResult:
    """Statistics of one category."""

    name: str
    budget: int
    cases: int = 0
    violating_cases: int = 0
    swept_cases: int = 0
    """Cases with a breach between commanded points (a swept_* violation kind: the controller's interpolated motion)."""
    violation_kinds: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    advisory_cases: int = 0
    advisory_kinds: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    first_advisory: str | None = None
    errors: int = 0
    error_kinds: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    interventions: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    seconds: float = 0.0
    first_error: str | None = None
    counterexample: str | None = None
    counterexample_violations: list[str] = dataclasses.field(default_factory=list)
    counterexample_trace: list[str] = dataclasses.field(default_factory=list)
    shrunk: bool = False
    _first_failure: tuple[object, Outcome] | None = None

    def add(self, case: object, outcome: Outcome) -> None:
        self.cases += 1
        self.interventions.update(outcome.interventions)
        if outcome.violations:
            self.violating_cases += 1
            self.swept_cases += any(v.kind.startswith("swept_") for v in outcome.violations)
            self.violation_kinds.update(v.kind for v in outcome.violations)
            if self._first_failure is None:
                self._first_failure = (case, outcome)
        if outcome.advisories:
            self.advisory_cases += 1
            self.advisory_kinds.update(v.kind for v in outcome.advisories)
            if self.first_advisory is None:
                self.first_advisory = str(outcome.advisories[0])
        if outcome.error:
            self.errors += 1
            self.error_kinds[outcome.error.split(":")[1].strip() if ":" in outcome.error else outcome.error] += 1
            if self.first_error is None:
                describe = getattr(case, "describe", None)
                self.first_error = outcome.error + ("\n" + describe() if describe else "")

    def to_json(self) -> dict:
        return {
            "cases": self.cases,
            "violations": self.violating_cases,
            "swept_breaches": self.swept_cases,
            "violation_kinds": dict(self.violation_kinds),
            "errors": self.errors,
            "error_kinds": dict(self.error_kinds),
            "advisories": self.advisory_cases,
            "advisory_kinds": dict(self.advisory_kinds),
            "first_advisory": self.first_advisory,
            "interventions": dict(self.interventions),
            "seconds": round(self.seconds, 2),
            "counterexample": self.counterexample,
            "counterexample_violations": self.counterexample_violations,
            "shrunk": self.shrunk,
            "first_error": self.first_error,
        }


@dataclasses.dataclass
class CampaignResult:
    """Everything the report prints."""

    params_source: str
    checkpoint: str
    seed: int
    requested: int
    categories: dict[str, CategoryResult]
    seconds: float
    warnings: tuple[str, ...] = ()
    robot: str = "panda"
    """The arm's name (robot.name)."""
    robot_summary: str = ""
    """One line: joints, reach, check spheres, workspace box and table of the configuration under test."""

    @property
    def cases(self) -> int:
        return sum(c.cases for c in self.categories.values())

    @property
    def violations(self) -> int:
        return sum(c.violating_cases for c in self.categories.values())

    @property
    def swept_breaches(self) -> int:
        """Cases whose breach lies between commanded points (included in violations)."""
        return sum(c.swept_cases for c in self.categories.values())

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.categories.values())

    def to_json(self) -> dict:
        filt = sum(self.categories[c].cases for c in FILTER_CATEGORIES if c in self.categories)
        return {
            "params": self.params_source,
            "robot": self.robot,
            "checkpoint": self.checkpoint,
            "seed": self.seed,
            "requested_cases": self.requested,
            "cases": self.cases,
            "violations": self.violations,
            "swept_breaches": self.swept_breaches,
            "errors": self.errors,
            "passed": self.violations == 0,
            "seconds": round(self.seconds, 2),
            "split": {"safety_filter": filt, "mpc": self.cases - filt},
            "categories": {name: c.to_json() for name, c in self.categories.items()},
            "warnings": list(self.warnings),
        }


def _interventions_order() -> list[str]:
    return (
        ["pass"]
        + [r.value for r in SafetyReason]
        + ["hold", "stop (no setpoint)"]
        + [f"plan {s.value}" for s in PlanStatus]
        + ["exception", "config rejected"]
    )


def format_report(result: CampaignResult) -> str:
    """The human-readable report (tables, counterexamples, verdict)."""
    cats = list(result.categories.values())
    n_filter = sum(c.cases for c in cats if c.name in FILTER_CATEGORIES)
    lines = [
        (f"guardrail campaign: params {result.params_source}; checkpoint {result.checkpoint}; seed {result.seed}"),
        f"robot: {result.robot}" + (f" ({result.robot_summary})" if result.robot_summary else ""),
        (
            f"split: {n_filter} safety-filter cases, {result.cases - n_filter} full-MPC cases "
            f"(K=64, H={CAMPAIGN_HORIZON}, 1 iteration) of {result.requested} requested"
        ),
    ]
    lines += [f"WARNING: {w}" for w in result.warnings]
    width = max(len(c.name) for c in cats) + 2
    lines += ["", f"{'category':<{width}}{'cases':>8}{'violations':>12}{'swept':>7}{'errors':>8}{'seconds':>9}"]
    rows = [(c.name, c.cases, c.violating_cases, c.swept_cases, c.errors, c.seconds) for c in cats]
    rows.append(("total", result.cases, result.violations, result.swept_breaches, result.errors, result.seconds))
    lines += [f"{n:<{width}}{k:>8}{v:>12}{w:>7}{e:>8}{t:>9.1f}" for n, k, v, w, e, t in rows]
    lines.append("(swept: cases whose breach lies between commanded points, on the controller's interpolated motion; "
                 "counted in violations too)")
    kinds = [k for k in _interventions_order() if any(c.interventions[k] for c in cats)]
    kinds += sorted({k for c in cats for k in c.interventions} - set(kinds))
    header = "".join(f"{c.name.split('.')[-1][:11]:>12}" for c in cats)
    lines += [
        "",
        "interventions by kind (counted per safety-filter call / MPC tick):",
        f"{'kind':<28}{header}",
    ]
    lines += [f"{kind:<28}" + "".join(f"{c.interventions[kind]:>12}" for c in cats) for kind in kinds]
    for c in cats:
        if not c.violating_cases:
            continue
        how = "shrunk by hypothesis" if c.shrunk else "first found, not shrunk"
        lines += [
            "",
            f"VIOLATIONS in {c.name}: {c.violating_cases} case(s); kinds {dict(c.violation_kinds)}",
            f"counterexample ({how}):",
        ]
        lines += ["  " + line for line in (c.counterexample or "").splitlines()]
        lines += ["  violated: " + v for v in c.counterexample_violations]
        lines += ["  trace: " + t for t in c.counterexample_trace]
    for c in cats:
        if c.advisory_cases:
            lines += [
                "",
                (
                    f"advisories in {c.name} (beyond what the filter promises; not violations): "
                    f"{c.advisory_cases} case(s); {dict(c.advisory_kinds)}"
                ),
                f"  e.g. {c.first_advisory}",
            ]
    for c in cats:
        if c.errors:
            lines += [
                "",
                (
                    f"ERRORS in {c.name} (an exception escaped the planner; not a guardrail breach: the "
                    f"ROS graph holds when plans stop): {c.errors} case(s); {dict(c.error_kinds)}"
                ),
            ]
            lines += ["  " + line for line in (c.first_error or "").splitlines()[:30]]
    verdict = "PASS" if result.violations == 0 else "FAIL"
    lines += [
        "",
        (
            f"{verdict}: {result.violations} violation(s) in {result.cases} cases "
            f"({result.errors} error(s)) in {result.seconds:.1f} s; {result.swept_breaches} swept breach(es)"
        ),
    ]
    return "\n".join(lines)

