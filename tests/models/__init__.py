"""World-model tests: shapes, losses, collapse detection, checkpoints, training, probes."""
