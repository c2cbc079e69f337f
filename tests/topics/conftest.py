"""Shared fixtures for the contract tests: the Haaglanden registry and a validator."""

from __future__ import annotations

import pytest
from topics_examples import REGISTRY

from topics.registry import Registry, load_registry
from topics.validation import Validator


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(REGISTRY)


@pytest.fixture(scope="session")
def validator(registry: Registry) -> Validator:
    return Validator(registry)
