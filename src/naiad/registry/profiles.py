"""Profiles as fields: ``profiles/<role>`` of a run or model version is a JSON File holding a data profile
(:mod:`naiad.data.profile`); reading one back, and storing one (merged into what is there)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from naiad.data.profile import Profile, profile
from naiad.errors import InvalidValueError, MissingFieldError
from naiad.tracking.files import File

if TYPE_CHECKING:
    from naiad.tracking.container import Container


def read_stored(container: Container, role: str) -> Profile:
    """The profile stored as ``profiles/<role>`` of an open container."""
    import tempfile

    path = f"profiles/{role}"
    if not container.exists(path):
        container.sync()
        if not container.exists(path):
            raise MissingFieldError(f"{container._label()} has no {path}; store one with naiad.log_profile(..., "
                                    f"role={role!r}) (register_model_version stores profiles/train).")
    with tempfile.TemporaryDirectory(prefix="naiad-profile-") as tmp:
        target = os.path.join(tmp, "profile.json")
        container[path].download(target)
        return Profile.from_json(json.loads(Path(target).read_text()))


def store_profile(container: Container, data: Any, *, role: str, merge: bool = True) -> Profile:
    """Profile ``data`` (a DataFrame, CSV/Parquet path or a :class:`Profile`) and store it as
    ``profiles/<role>`` of ``container``, merged into what is there unless ``merge=False``."""
    if not role or "/" in role:
        raise InvalidValueError(f"role {role!r} must be a non-empty name without '/'.")
    new = data if isinstance(data, Profile) else profile(data)
    if merge and container.exists(f"profiles/{role}"):
        new = read_stored(container, role).merge(new)
    container[f"profiles/{role}"].upload(File.from_content(json.dumps(new.to_json()), extension="json"))
    container.wait()
    return new


__all__ = ["read_stored", "store_profile"]
