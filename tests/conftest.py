"""Shared fixtures.

Tests marked ``lesson`` run lessons against the engine named by MILVUS_URI
(``make test`` sets it: a temporary Milvus Lite file, then the embedded
server). Unmarked tests are unit tests and need no engine.
"""

import pytest

from tests.helpers import current_engine


@pytest.fixture(scope="session")
def engine_info():
    """The engine behind MILVUS_URI: kind, version, capabilities."""
    return current_engine()
