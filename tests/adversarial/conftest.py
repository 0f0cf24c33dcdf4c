"""The adversarial suite: the probe of issue 16 kept as tests (see docs/reliability.md)."""
