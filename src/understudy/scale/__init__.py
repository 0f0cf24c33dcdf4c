"""Running at dataset scale: the Ray Data runner and GPU batching that adapts to memory."""
