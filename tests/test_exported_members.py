"""The public surface is explicit: everything in __all__ exists, nothing public leaks beside it."""

import sys

import naiad


def test_all_names_exist():
    for name in naiad.__all__:
        assert hasattr(naiad, name), name


def test_no_public_name_outside_all():
    public = {n for n in dir(naiad) if not n.startswith("_")}
    # the subpackages (what naiad is made of) and the modules the root imports for its re-exports
    submodules = {"cli", "config", "core", "data", "errors", "exceptions", "gate", "importers", "integrations",
                  "monitoring", "neptune_compat", "registry", "server", "store", "tracking", "types", "utils",
                  "version"}
    leaked = public - set(naiad.__all__) - submodules
    assert not leaked, f"public names not in __all__: {sorted(leaked)}"


def test_neptune_entry_points_are_there():
    for name in ("init_run", "init_project", "Run", "Project", "File", "ANONYMOUS_API_TOKEN", "__version__"):
        assert name in naiad.__all__
    assert naiad.init_run is naiad.Run
    assert naiad.types.File is naiad.File


def test_neptune_module_names_import_as_modules():
    # code written for neptune imports its modules by name: ``from neptune.types import File``
    from naiad.exceptions import NeptuneException
    from naiad.types import File, Float
    from naiad.utils import stringify_unsupported

    assert File is naiad.File and issubclass(NeptuneException, Exception)
    assert Float(3).value == 3.0
    assert type(stringify_unsupported({"a": None})["a"]).__name__ == "StringifyValue"
    assert sys.modules["naiad.types"] is naiad.neptune_compat.types
