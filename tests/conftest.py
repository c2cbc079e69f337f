"""Shared fixtures; the helpers themselves live in tests/support.py."""

from tests.support import stack  # noqa: F401 - re-exported fixture
