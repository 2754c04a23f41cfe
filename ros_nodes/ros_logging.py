"""Python logging of the `jepa_mpc.*` loggers -> a running node's ROS logger, so it reaches /rosout and the console
with the node's name and severity.

The planner, models and sim layers log through Python `logging` (they must not import rclpy). While a node runs it
calls `bridge_python_logs(node, prefixes)`; every record of a `jepa_mpc.*` logger then goes to the rcl logger of the
node whose registered prefix matches the record's logger name most specifically (ties: the node that registered
first), exactly once. Every bridge registers `jepa_mpc` itself as a catch-all (in a per-node process everything
goes to that process's node); the mpc node also registers the planner and models, so in one process with several
nodes the planner's lines are the mpc node's. While any bridge is open the `jepa_mpc`
Python logger stops propagating to the root handlers (rcl prints to the console itself: no line twice) and lets
through what both the application's Python logging (its level when the first bridge opened: `bringup` shows INFO,
`demo` only warnings) and the most verbose registered node's ROS log level would; closing the last bridge restores
both.
"""
from __future__ import annotations

import dataclasses
import logging
import threading

ROOT = "jepa_mpc"
"""The Python logger every module of the package logs under."""

_lock = threading.Lock()
_routes: list[_Route] = []
_saved: tuple[int, bool, int] | None = None  # the ROOT logger's (level, propagate, effective level) before


@dataclasses.dataclass(eq=False)
class _Route:
    prefix: str
    ros_logger: object  # rclpy RcutilsLogger


def _matches(prefix: str, name: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _severity(levelno: int):
    """The rcutils severity of a Python level (the numbers agree; anything in between rounds down)."""
    from rclpy.logging import LoggingSeverity

    for severity in (LoggingSeverity.FATAL, LoggingSeverity.ERROR, LoggingSeverity.WARN, LoggingSeverity.INFO):
        if levelno >= severity:
            return severity
    return LoggingSeverity.DEBUG


class _RosHandler(logging.Handler):
    """Sends each record to the ROS logger of its most specific route (or drops it when none matches)."""

    def emit(self, record: logging.LogRecord) -> None:
        with _lock:
            candidates = [r for r in _routes if _matches(r.prefix, record.name)]
        if not candidates:
            return
        route = max(candidates, key=lambda r: len(r.prefix))  # max keeps the first of equals
        try:
            short = record.name[len(ROOT) + 1:] or ROOT
            route.ros_logger.log(f"[{short}] {self.format(record)}", _severity(record.levelno))
        except Exception:  # noqa: BLE001 - logging must never take the caller down
            self.handleError(record)


_handler = _RosHandler()


class LogBridge:
    """An open bridge for one node (see the module docstring); `close()` it before the node is destroyed."""

    def __init__(self, node, prefixes: tuple[str, ...] = ()) -> None:
        global _saved
        bad = [p for p in prefixes if not _matches(ROOT, p)]
        if bad:
            raise ValueError(f"prefixes must be {ROOT} or below it, got {bad}")
        self._ros_logger = node.get_logger()
        self._routes = [_Route(p, self._ros_logger) for p in dict.fromkeys((ROOT, *prefixes))]
        root = logging.getLogger(ROOT)
        with _lock:
            if _saved is None:
                _saved = (root.level, root.propagate, root.getEffectiveLevel())
                root.addHandler(_handler)
                root.propagate = False
            _routes.extend(self._routes)
            _update_level(root)

    def close(self) -> None:
        """Stop routing to this node (idempotent); the last one closed restores the Python logger."""
        global _saved
        root = logging.getLogger(ROOT)
        with _lock:
            for route in self._routes:
                if route in _routes:
                    _routes.remove(route)
            self._routes = []
            if not _routes and _saved is not None:
                root.removeHandler(_handler)
                root.setLevel(_saved[0])
                root.propagate = _saved[1]
                _saved = None
            elif _routes:
                _update_level(root)


def _update_level(root: logging.Logger) -> None:
    """The ROOT Python logger lets through what the application let through before bridging and the most verbose
    registered node's ROS logger would print."""
    levels = [int(r.ros_logger.get_effective_level()) for r in _routes]
    root.setLevel(max(logging.DEBUG, _saved[2], min(levels)))


def bridge_python_logs(node, prefixes: tuple[str, ...] = ()) -> LogBridge:
    """Route the `jepa_mpc` Python loggers to `node`'s ROS logger until the bridge is closed: those under
    `prefixes` (e.g. `jepa_mpc.planner`) in preference to other nodes, the rest unless a node registered first."""
    return LogBridge(node, prefixes)
