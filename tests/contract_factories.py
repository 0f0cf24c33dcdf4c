"""Builders of methods that need weights, with tiny random models, for the contract tests.

Every registered method must pass tests/core/test_method_contract.py; a method that needs
weights registers here how to build it with tiny components.
"""

from __future__ import annotations

from typing import Callable

FACTORIES: dict[str, Callable[[], object]] = {}
