"""naiad — a self-hosted ML metadata store that speaks the neptune 1.x API.

>>> import naiad
>>> run = naiad.init_run(project="defects", tags=["baseline"])
>>> run["parameters"] = {"lr": 1e-3}
>>> run["train/loss"].append(0.25)
>>> run.stop()

``import naiad as neptune`` keeps code written for the neptune 1.x client running.
"""

import sys as _sys

from naiad import config
from naiad.errors import NaiadError
from naiad.gate.report import fetch_gate_decisions
from naiad.monitoring.evaluation import Evaluation, evaluate
from naiad.monitoring.monitor import fetch_drift, fetch_evaluations, get_degradation_rule, set_degradation_rule
from naiad.neptune_compat import exceptions, legacy, types, utils
from naiad.neptune_compat.legacy import (
    append_tag,
    append_tags,
    create_experiment,
    delete_artifacts,
    get_experiment,
    init,
    log_artifact,
    log_image,
    log_metric,
    log_text,
    remove_property,
    remove_tag,
    send_artifact,
    send_image,
    send_metric,
    send_text,
    set_project,
    set_property,
    stop,
)
from naiad.registry.model import Model, ModelVersion, init_model, init_model_version, register_model_version
from naiad.registry.skew import code_skew, distribution_skew, feature_skew, log_profile, read_profile
from naiad.tracking.files import File
from naiad.tracking.handler import Handler
from naiad.tracking.project import Project, Table, init_project
from naiad.tracking.run import Run, init_run
from naiad.version import __version__

# neptune's module names: ``from naiad.types import File`` as ``from neptune.types import File``
for _compat in (exceptions, legacy, types, utils):
    _sys.modules[f"{__name__}.{_compat.__name__.rsplit('.', 1)[1]}"] = _compat
del _compat

ANONYMOUS_API_TOKEN = "ANONYMOUS"


def install_as_neptune() -> object:
    """Make ``import neptune`` mean naiad in this process, so that code and integration packages that
    import the neptune client themselves (neptune-optuna, neptune-sklearn, Lightning's NeptuneLogger …)
    log into naiad unchanged.  Call it before they are imported; returns naiad.  See
    :mod:`naiad.neptune_compat.alias` for the module names it maps."""
    from naiad.neptune_compat import alias

    return alias.install(_sys.modules[__name__])


def __getattr__(name: str) -> object:
    if name == "project":  # neptune 0.x's ``neptune.project``: the project ``init()`` chose, or None
        return legacy.project
    if _sys.modules.get("neptune") is _sys.modules[__name__] and f"neptune.{name}" in _sys.modules:
        return _sys.modules[f"neptune.{name}"]  # install_as_neptune(): ``neptune.handler`` and the rest
    raise AttributeError(f"module 'naiad' has no attribute {name!r}")


__all__ = [
    "ANONYMOUS_API_TOKEN",
    "Evaluation",
    "File",
    "Handler",
    "Model",
    "ModelVersion",
    "NaiadError",
    "Project",
    "Run",
    "Table",
    "__version__",
    "append_tag",
    "append_tags",
    "code_skew",
    "config",
    "create_experiment",
    "delete_artifacts",
    "distribution_skew",
    "evaluate",
    "exceptions",
    "feature_skew",
    "fetch_drift",
    "fetch_evaluations",
    "fetch_gate_decisions",
    "get_degradation_rule",
    "get_experiment",
    "init",
    "init_model",
    "init_model_version",
    "init_project",
    "init_run",
    "install_as_neptune",
    "legacy",
    "log_artifact",
    "log_image",
    "log_metric",
    "log_profile",
    "log_text",
    "read_profile",
    "register_model_version",
    "remove_property",
    "remove_tag",
    "send_artifact",
    "send_image",
    "send_metric",
    "send_text",
    "set_degradation_rule",
    "set_project",
    "set_property",
    "stop",
    "types",
    "utils",
]
