"""The course's own machinery, which no lesson imports.

- ``curriculum``    the runner behind ``make run`` / ``make bench`` / ``make reset-db``
- ``grader``        grades the exercises (``make check``)
- ``server``        the embedded Milvus server from the command line (``make server``, ``make test``)
- ``docs_code``     copies each lesson's marked code regions into ``docs/`` (``make docs``)
- ``docs_output``   re-runs the lessons and rewrites the output blocks in ``docs/`` (``make docs-output``)
- ``docs_figures``  redraws ``docs/img/`` (``make docs-figures``)
"""
