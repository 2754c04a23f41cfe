"""The mpc node under a lifecycle manager: with `autostart: false` bring-up leaves it unconfigured, and a client
drives configure / activate / deactivate / cleanup / shutdown through the standard lifecycle_msgs services, each
doing what it says (planners built, planning thread running, stopped, freed). With the default it starts active."""
from __future__ import annotations

import pytest

from tests.ros.conftest import spin_until

rclpy = pytest.importorskip("rclpy")
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402

from jepa_mpc.ros_nodes.bringup import create_nodes  # noqa: E402
from jepa_mpc.ros_nodes.graph import MPC  # noqa: E402


def _bring_up(autostart: bool | None):
    """The mpc node as `jepa-mpc bringup` creates it (pose goals through kinematics: no checkpoint to load);
    autostart None: the parameter's default."""
    context = rclpy.Context()
    args = ["--ros-args", "-p", "checkpoint:=none"]
    if autostart is not None:
        args += ["-p", f"autostart:={str(autostart).lower()}"]
    rclpy.init(args=args, context=context)
    (mpc,) = create_nodes((MPC,), context)
    manager = rclpy.create_node("lifecycle_manager", context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    for node in (mpc, manager):
        executor.add_node(node)
    return context, mpc, manager, executor


def _call(executor, client, request, timeout_s: float = 30.0):
    assert client.wait_for_service(timeout_sec=10.0), f"{client.srv_name} not offered"
    future = client.call_async(request)
    assert spin_until(executor, future.done, timeout_s=timeout_s), f"{client.srv_name} did not answer"
    return future.result()


def _tear_down(context, mpc, manager, executor):
    executor.shutdown()
    mpc.destroy_node()
    manager.destroy_node()
    rclpy.try_shutdown(context=context)


def test_a_lifecycle_manager_drives_every_transition():
    context, mpc, manager, executor = _bring_up(autostart=False)
    get_state = manager.create_client(GetState, "/mpc/get_state")
    change = manager.create_client(ChangeState, "/mpc/change_state")

    def state() -> int:
        return _call(executor, get_state, GetState.Request()).current_state.id

    def transition(transition_id: int) -> bool:
        return _call(executor, change, ChangeState.Request(transition=Transition(id=transition_id))).success

    try:
        assert state() == State.PRIMARY_STATE_UNCONFIGURED and mpc.planners is None, "autostart false: wait"
        assert transition(Transition.TRANSITION_CONFIGURE)
        assert state() == State.PRIMARY_STATE_INACTIVE and "pose" in mpc.planners and mpc._thread is None
        assert transition(Transition.TRANSITION_ACTIVATE)
        assert state() == State.PRIMARY_STATE_ACTIVE and mpc._thread.is_alive()
        thread = mpc._thread
        assert transition(Transition.TRANSITION_DEACTIVATE)
        assert state() == State.PRIMARY_STATE_INACTIVE and not thread.is_alive()
        assert transition(Transition.TRANSITION_CLEANUP)
        assert state() == State.PRIMARY_STATE_UNCONFIGURED and mpc.planners is None and mpc.pub_plan is None
        assert transition(Transition.TRANSITION_CONFIGURE)  # configurable again after cleanup
        assert transition(Transition.TRANSITION_ACTIVATE)
        thread = mpc._thread
        assert transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert state() == State.PRIMARY_STATE_FINALIZED and not thread.is_alive()
    finally:
        _tear_down(context, mpc, manager, executor)


def test_autostart_by_default_brings_the_node_to_active():
    context, mpc, manager, executor = _bring_up(autostart=None)
    try:
        get_state = manager.create_client(GetState, "/mpc/get_state")
        assert _call(executor, get_state, GetState.Request()).current_state.id == State.PRIMARY_STATE_ACTIVE
        assert mpc._thread is not None and mpc._thread.is_alive()
    finally:
        _tear_down(context, mpc, manager, executor)
