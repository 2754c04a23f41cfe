"""Planner: costs, guardrails, CEM / gradient / hybrid MPC, the MPC loop and the safety filter (no ROS).

Modules (one job each): config (frozen configs), types (plan data), kinematics (torch FK from the MjModel),
rollout (actions -> latents + joint trajectory), costs / goal_costs / action_costs (soft costs, CostStack),
guardrails (hard constraints), registry (names -> costs, build_cost_stack), objective (PlanProblem),
cem / gradient / hybrid (optimisers), mpc (RecedingHorizonMPC, the one
MPC) with arm_adapter (joint-position or bounded-action arm), safety (NumPy-only SafetyFilter), bench.
Nothing is imported here, so `jepa_mpc.planner.safety` stays free of torch.
"""
