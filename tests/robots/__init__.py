"""Tests of robots/: arms from their descriptions (URDF or MJCF)."""
