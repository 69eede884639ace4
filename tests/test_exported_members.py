"""The public surface is explicit: everything in __all__ exists, nothing public leaks beside it."""

import naiad


def test_all_names_exist():
    for name in naiad.__all__:
        assert hasattr(naiad, name), name


def test_no_public_name_outside_all():
    public = {n for n in dir(naiad) if not n.startswith("_")}
    submodules = {"bundle", "capture", "cli", "cli_common", "cli_gate", "cli_monitor", "cli_registry",
                  "cli_webhooks", "config", "container", "datasets", "drift", "errors", "evaluation", "exceptions",
                  "fields", "files", "gate", "handler", "hashcache", "importers", "integrations", "metrics",
                  "model", "monitor", "oplog", "ops", "paired", "plots", "profile", "project", "query", "registry",
                  "run", "skew", "store", "types", "server", "utils", "webhooks", "writer"}
    leaked = public - set(naiad.__all__) - submodules
    assert not leaked, f"public names not in __all__: {sorted(leaked)}"


def test_neptune_entry_points_are_there():
    for name in ("init_run", "init_project", "Run", "Project", "File", "ANONYMOUS_API_TOKEN", "__version__"):
        assert name in naiad.__all__
    assert naiad.init_run is naiad.Run
    assert naiad.types.File is naiad.File
