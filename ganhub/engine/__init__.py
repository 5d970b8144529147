"""The shared training infrastructure: systems and phases, the loop, checkpoints, distribution."""
