"""Shared code for the milvus-course lessons.

Everything a lesson needs more than once lives here, once:

- ``config``      settings from ``.env`` and the environment
- ``connection``  one fail-fast way to get a ``MilvusClient``
- ``engine``      which engine is behind the URI, and what it can do
- ``schemas``     schema helpers and row validation with clear errors
- ``data``        seeded clustered vectors and exact NumPy ground truth
- ``metrics``     recall@k, latency percentiles, QPS
- ``report``      aligned tables, JSON and PNG output under ``reports/``
- ``cli``         the argument parser and error handling every lesson shares
- ``curriculum``  the runner behind ``make run``
"""

from common.config import shield_milvus_uri
from common.errors import CourseError

shield_milvus_uri()  # must run before anything imports pymilvus

__all__ = ["CourseError"]
