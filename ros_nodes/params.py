"""ROS parameters as a thin layer over frozen dataclass configs: declare from the fields, validate by construction.

Each dataclass field becomes a parameter (nested dataclasses get a dotted prefix, e.g. `cem.samples`), with the
field's default and its `metadata["help"]` as description. Setting a parameter rebuilds the dataclass; a value the
dataclass rejects is refused with its ValueError message. One mapping, no duplicated defaults.
ROS imports happen inside the functions, so the config dataclasses that use `param` import without ROS.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any


def param(default: Any, help_text: str, read_only: bool = False) -> Any:
    """A config field that becomes a documented ROS parameter (read_only: settable at start-up only)."""
    return dataclasses.field(default=default, metadata={"help": help_text, "read_only": read_only})


def ignore_further_interrupts() -> None:
    """From now on SIGINT and SIGTERM are ignored: called once a node process has begun to shut down, so a second
    Ctrl-C (or a launcher's SIGTERM after its SIGINT) cannot interrupt the cleanup with a traceback and a non-zero
    exit. The cleanup's own timeouts bound it; SIGKILL still ends it."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def spin_node_main(node_cls: type, args=None) -> None:
    """`ros2 run` entry point for a plain node: init, spin until Ctrl-C or shutdown, clean up. A node that cannot
    start (NodeStartupError, e.g. a robot description that does not load) logs why and exits with status 1."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from jepa_mpc.ros_nodes.robot_param import NodeStartupError

    rclpy.init(args=args)
    try:
        node = node_cls()
    except (NodeStartupError, ValueError) as exc:  # bad parameters: one line, no traceback
        rclpy.logging.get_logger(getattr(node_cls, "DEFAULT_NAME", node_cls.__name__)).fatal(
            f"cannot start: {exc}")
        rclpy.try_shutdown()
        raise SystemExit(1) from None
    except (KeyboardInterrupt, ExternalShutdownException):  # stopped while starting (e.g. loading the robot)
        rclpy.try_shutdown()
        return
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        ignore_further_interrupts()
        node.destroy_node()
        rclpy.try_shutdown()


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    raise TypeError(f"config field {field.name} needs a default to become a ROS parameter")


def flatten(cls: type, prefix: str = "", instance: Any = None) -> dict[str, tuple[Any, str, bool]]:
    """{parameter name: (default value, description, read_only)} for a dataclass type (recursing into fields)."""
    out: dict[str, tuple[Any, str, bool]] = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        value = getattr(instance, field.name) if instance is not None else _default(field)
        name = prefix + field.name
        if dataclasses.is_dataclass(hints.get(field.name)) or dataclasses.is_dataclass(value):
            out.update(flatten(type(value), name + ".", value))
            continue
        if isinstance(value, tuple):
            value = list(value)
        if value is None:
            value = ""  # ROS has no None: the empty string means "unset" and converts back to None
        out[name] = (value, field.metadata.get("help", ""), bool(field.metadata.get("read_only", False)))
    return out


def build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    """Construct `cls` from flat parameter values (missing names keep their defaults); raises ValueError."""
    kwargs: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        name = prefix + field.name
        default = _default(field)
        if dataclasses.is_dataclass(hints.get(field.name)) or dataclasses.is_dataclass(default):
            kwargs[field.name] = build(type(default), values, name + ".")
        elif name in values:
            value = values[name]
            if isinstance(default, tuple):
                value = tuple(value)
            elif default is None and value == "":
                value = None
            elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            kwargs[field.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


def declare_config(node, cls: type, prefix: str = "", instance: Any = None) -> Any:
    """Declare every field of `cls` as a parameter of `node` and return the validated config."""
    from rcl_interfaces.msg import ParameterDescriptor

    flat = flatten(cls, prefix, instance)
    for name, (default, help_text, read_only) in flat.items():
        # An empty list has no element type in ROS; let the first value set (YAML or CLI) decide it.
        descriptor = ParameterDescriptor(description=help_text, read_only=read_only,
                                         dynamic_typing=isinstance(default, list) and not default)
        node.declare_parameter(name, default, descriptor)
    values = {name: node.get_parameter(name).value for name in flat}
    return build(cls, values, prefix)


def validating_callback(node, cls: type, prefix: str = "", on_valid=None):
    """An on-set-parameters callback that accepts a change only if `cls` still constructs; calls on_valid(cfg)."""
    from rcl_interfaces.msg import SetParametersResult

    names = set(flatten(cls, prefix))

    def callback(params) -> SetParametersResult:
        changed = {p.name: p.value for p in params if p.name in names}
        if not changed:
            return SetParametersResult(successful=True)
        current = {n: node.get_parameter(n).value for n in names}
        try:
            cfg = build(cls, {**current, **changed}, prefix)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if on_valid is not None:
            on_valid(cfg)
        return SetParametersResult(successful=True)

    return callback
