"""Importers: the way in for teams arriving from other tools (``naiad import …``).

- ``naiad.importers.neptune`` — Parquet exports written by ``neptune-exporter``.
- ``naiad.importers.tensorboard`` — TensorBoard event files, one run per run directory.
- ``naiad.importers.mlflow`` — experiments and runs of an MLflow tracking store.
"""
