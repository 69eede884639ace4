"""naiad — a self-hosted ML metadata store that speaks the neptune 1.x API.

>>> import naiad
>>> run = naiad.init_run(project="defects", tags=["baseline"])
>>> run["parameters"] = {"lr": 1e-3}
>>> run["train/loss"].append(0.25)
>>> run.stop()

``import naiad as neptune`` keeps code written for the neptune 1.x client running.
"""

from naiad import config, exceptions, types, utils
from naiad.errors import NaiadError
from naiad.evaluation import Evaluation, evaluate
from naiad.files import File
from naiad.gate import fetch_gate_decisions
from naiad.handler import Handler
from naiad.model import Model, ModelVersion, init_model, init_model_version, register_model_version
from naiad.monitor import fetch_drift, fetch_evaluations, get_degradation_rule, set_degradation_rule
from naiad.project import Project, Table, init_project
from naiad.run import Run, init_run
from naiad.skew import code_skew, distribution_skew, feature_skew, log_profile, read_profile

__version__ = "0.1.0"

ANONYMOUS_API_TOKEN = "ANONYMOUS"

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
    "code_skew",
    "config",
    "distribution_skew",
    "evaluate",
    "exceptions",
    "feature_skew",
    "fetch_drift",
    "fetch_evaluations",
    "fetch_gate_decisions",
    "get_degradation_rule",
    "init_model",
    "init_model_version",
    "init_project",
    "init_run",
    "log_profile",
    "read_profile",
    "register_model_version",
    "set_degradation_rule",
    "types",
    "utils",
]
