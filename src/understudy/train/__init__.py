"""Training of the few learned parts (CAMOUFLaGE's IDF ControlNet, ...); each trainer is one module."""
