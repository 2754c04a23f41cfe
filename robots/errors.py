"""The one error a robot description raises: a ValueError whose message names the file, the element and the fix."""
from __future__ import annotations


class RobotDescriptionError(ValueError):
    """A URDF or MJCF that cannot become a `Robot` (unreadable, no movable joints, a missing limit, a loop, a
    mesh that cannot be found, a tool frame that does not exist, ...)."""
