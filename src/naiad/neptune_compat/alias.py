"""What ``naiad.install_as_neptune()`` does: in this process the name ``neptune`` is naiad, so code and the
integration packages that ``import neptune`` themselves — neptune-optuna, neptune-sklearn,
neptune-xgboost, neptune-tensorflow-keras, Lightning's ``NeptuneLogger`` … unchanged — log into
naiad's store, embedded or a server (``NAIAD_URI``).

It registers ``neptune`` (and the old ``neptune.new``) as naiad, and neptune's module names as the
modules of naiad that hold the same things, each one module object (so ``isinstance(x,
neptune.handler.Handler)`` is naiad's ``Handler``): ``types``, ``utils``, ``exceptions``, ``handler``,
``version``, ``metadata_containers`` (``Run``, ``Model``, ``ModelVersion``, ``Project``),
``integrations.utils`` and ``internal.utils``.  ``neptune.integrations.<name>`` is the integration
package ``neptune_<name>``, as in neptune itself.  Call it before anything imports ``neptune``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

_PREFIXES = ("neptune", "neptune.new")


class _Integrations(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``neptune.integrations.<name>`` → the package ``neptune_<name>`` (e.g. neptune-optuna)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> Any:
        for prefix in _PREFIXES:
            head = f"{prefix}.integrations."
            name = fullname[len(head):] if fullname.startswith(head) else ""
            if name and "." not in name and name != "utils":
                return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        name = spec.name.rsplit(".", 1)[1]
        try:
            return importlib.import_module(f"neptune_{name}")
        except ImportError as exc:
            raise ImportError(f"{spec.name} is the integration package neptune-{name.replace('_', '-')}: "
                              f"pip install neptune-{name.replace('_', '-')} ({exc})") from None

    def exec_module(self, module: types.ModuleType) -> None:
        return None


_FINDER = _Integrations()


def install(naiad: types.ModuleType) -> types.ModuleType:
    """Make ``import neptune`` (and its module names) mean ``naiad`` (the package) in this process."""
    from naiad import version
    from naiad.neptune_compat import exceptions, integration_utils, legacy, utils
    from naiad.neptune_compat import types as neptune_types
    from naiad.tracking import handler, run

    containers = types.ModuleType("neptune.metadata_containers", "naiad's containers under neptune's module name")
    for name in ("Run", "Project", "Model", "ModelVersion"):
        setattr(containers, name, getattr(naiad, name))
    integrations = types.ModuleType("neptune.integrations", "neptune's integrations: the neptune_<name> packages")
    integrations.__path__ = []  # a package: neptune.integrations.<name> imports
    integrations.utils = integration_utils  # type: ignore[attr-defined]
    internal = types.ModuleType("neptune.internal", "the helpers integrations import from neptune's internals")
    internal.__path__ = []
    internal.utils = integration_utils  # type: ignore[attr-defined]
    modules: dict[str, types.ModuleType] = {
        "": naiad, ".types": neptune_types, ".utils": utils, ".exceptions": exceptions, ".handler": handler,
        ".version": version, ".legacy": legacy, ".metadata_containers": containers,
        ".metadata_containers.run": run, ".integrations": integrations, ".integrations.utils": integration_utils,
        ".internal": internal, ".internal.utils": integration_utils, ".new": naiad,
    }
    for prefix in _PREFIXES:
        for suffix, module in modules.items():
            sys.modules[prefix + suffix] = module
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    return naiad


__all__ = ["install"]
