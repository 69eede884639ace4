"""Benchmarks for naiad's write path and embedded store (issue 2, requirements 5 and 6).

Run from the repository root::

    python -m bench.core [--quick] [--repeat N] [--only NAME] [--json PATH]

``bench.core`` orchestrates; every measurement runs in a child process (``python -m bench._worker``)
with ``NAIAD_URI`` pointing at a fresh temporary folder, so no store cache, connection or writer
thread of one repetition leaks into the next.
"""
