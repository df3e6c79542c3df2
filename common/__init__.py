"""What the lessons import: the course's plumbing, never a lesson's own subject.

- ``config``           settings from ``.env``, then the environment, then defaults
- ``connection``       one fail-fast way to get a ``MilvusClient``, with one clear message on failure
- ``cli``              the lesson parser (ranged options), the engine banner, the one error boundary
- ``engine``           which engine is behind the URI, and what it can do (verified by effect)
- ``indexes``          index types, their build/search parameters and memory formulas
- ``rows``             rows in and out of a collection: cleanup, exact counts, row shaping, validation
- ``data``             seeded clustered vectors and exact NumPy ground truth
- ``metrics``          recall@k, latency percentiles, QPS
- ``report``           aligned tables, JSON and PNG output under ``reports/``
- ``embeddings``       the offline embedding model and its on-disk cache
- ``processes``        child processes (brokers, servers) that never outlive their lesson
- ``embedded_server``  start and stop the embedded Milvus server (lesson 5.5 starts a secured one)
- ``errors``           ``CourseError``: a failure with the fix a learner can act on

The course's own machinery (the runner, the grader, the docs tools) lives in ``course/``.
"""

from common.config import shield_milvus_uri

shield_milvus_uri()  # must run before anything imports pymilvus
