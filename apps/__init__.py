"""Applications on top of the stack: the CLI commands that evaluate, benchmark, demo and attack it (top layer)."""
