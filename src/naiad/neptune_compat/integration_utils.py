"""The helpers neptune's integration packages import (``neptune.integrations.utils``,
``neptune.internal.utils``): type checks that say what was expected, and path joining."""

from __future__ import annotations

from typing import Any

from naiad.errors import ConfigError


def _type_name(kind: Any) -> str:
    return " or ".join(_type_name(k) for k in kind) if isinstance(kind, tuple) else getattr(kind, "__name__",
                                                                                             str(kind))


def verify_type(var_name: str, var: Any, expected_type: type | tuple[type, ...]) -> None:
    """TypeError naming ``var_name``, the type expected and the one given, unless ``var`` is one."""
    if not isinstance(var, expected_type):
        raise TypeError(f"{var_name} must be a {_type_name(expected_type)} (was {type(var)})")


def verify_value(var_name: str, var: Any, expected_values: Any) -> None:
    if var not in expected_values:
        raise ValueError(f"{var_name} must be one of {expected_values} (was `{var}`)")


def expect_not_an_experiment(run: Any) -> None:
    """Integrations take a 1.x run, not a 0.x experiment (``naiad.create_experiment``'s)."""
    from naiad.neptune_compat.legacy import Experiment

    if isinstance(run, Experiment):
        raise ConfigError("this integration takes a run (naiad.init_run()), not a 0.x experiment; pass "
                          "experiment.run")


def join_paths(*paths: str) -> str:
    """Field paths joined with one ``/`` between parts, empty parts left out."""
    return "/".join(part.strip("/") for part in paths if part and part.strip("/"))


__all__ = ["expect_not_an_experiment", "join_paths", "verify_type", "verify_value"]
