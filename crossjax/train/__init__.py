"""The training engine: train state, pure steps, mesh, checkpoints, writers and the one loop."""
