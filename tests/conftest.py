"""Shared fixtures; the helpers themselves live in tests/support.py."""

import os

# The tests run the sources, whatever the environment asks (the unit tests' fault
# injection patches functions that compiled callers would not see); the compiled core
# is checked against them in a child process (tests/processors/test_compiled_core.py).
os.environ["SPOEDSTROOM_CORE"] = "source"

from tests.support import stack  # noqa: E402, F401 - re-exported fixture
