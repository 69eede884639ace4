"""The tracking SDK: runs, projects and their field trees (``container``, ``handler``, ``run``,
``project``), the value classes (``values``), files as field values (``files``, ``hashcache``), the
datasets view (``datasets``), automatic capture (``capture``) and the write path (``writer``: buffers,
the writer thread, the op log, the heartbeat).

Layer 3. May import: ``naiad.core``, ``naiad.store`` and layer 0 (``errors``, ``config``, ``version``).
"""
