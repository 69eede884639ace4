"""The one exception tree of naiad.

Every error a user can meet derives from :class:`NaiadError` and carries a stable ``code`` that
crosses the HTTP API both ways (the server puts it in the error envelope, the client turns it back
into the same class).  Messages say what was wrong *and* what to do.

    NaiadError
    ├── ConfigError                   a setting or init argument is invalid
    │   ├── InvalidModeError
    │   ├── MissingProjectError
    │   └── ModelKeyTakenError        init_model(key=...) with a key the project already uses
    ├── NotFoundError                 (also KeyError)
    │   ├── ProjectNotFound
    │   ├── ContainerNotFound
    │   │   ├── RunNotFound
    │   │   ├── ModelNotFound
    │   │   └── ModelVersionNotFound
    │   └── MissingFieldError         (also AttributeError) reading a path with no field
    ├── FieldError                    a write or read the field cannot take
    │   ├── InvalidPathError          (also ValueError)
    │   ├── FieldTypeError            (also TypeError) wrong type for an existing field / method
    │   ├── InvalidValueError         (also ValueError) a value the field type cannot hold
    │   ├── StepOrderError            (also ValueError) a series step that does not increase
    │   ├── NamespaceConflictError    a field where a namespace is, or the reverse
    │   └── ProtectedPathError        writing a read-only sys/ field
    │       └── StageChangeError      writing sys/stage (change_stage() moves a version)
    ├── InactiveContainerError        using a run after stop()
    ├── QueryError                    (also ValueError) a query that does not parse or type-check
    ├── StoreError                    the store could not do what was asked
    │   ├── StoreLockedError
    │   ├── SchemaVersionError
    │   └── StoreUnavailableError     the server cannot be reached now (retried; the op log keeps data)
    ├── AuthError                     no / an unknown / an expired API token (HTTP 401)
    │   └── PermissionDeniedError     the token's role does not allow this (HTTP 403)
    │       └── PolicyError           a model's promotion policy refuses the move (no passing gate)
    ├── RequestError                  a request the server refuses as malformed or too large (HTTP 400/413)
    └── FileError                     a file to upload / track / download is missing or unreadable
        └── IntegrityError            bytes whose size or SHA-256 differs from what was announced

Neptune-compatible aliases (``MetadataInconsistency``, ``MissingFieldException``,
``InactiveRunException`` ...) are exported by :mod:`naiad.neptune_compat.exceptions`.
"""

from __future__ import annotations

from typing import Any


class NaiadError(Exception):
    """Base of every naiad error."""

    code = "naiad_error"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ConfigError(NaiadError):
    code = "config_error"


class InvalidModeError(ConfigError, ValueError):
    code = "invalid_mode"


class MissingProjectError(ConfigError):
    code = "missing_project"


class ModelKeyTakenError(ConfigError):
    code = "model_key_taken"


class NotFoundError(NaiadError, KeyError):
    code = "not_found"

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class ProjectNotFound(NotFoundError):
    code = "project_not_found"


class ContainerNotFound(NotFoundError):
    code = "container_not_found"


class RunNotFound(ContainerNotFound):
    code = "run_not_found"


class ModelNotFound(ContainerNotFound):
    code = "model_not_found"


class ModelVersionNotFound(ContainerNotFound):
    code = "model_version_not_found"


class MissingFieldError(NotFoundError, AttributeError):
    code = "missing_field"


class FieldError(NaiadError):
    code = "field_error"


class InvalidPathError(FieldError, ValueError):
    code = "invalid_path"


class FieldTypeError(FieldError, TypeError, AttributeError, ValueError):
    code = "field_type"


class InvalidValueError(FieldError, ValueError):
    code = "invalid_value"


class StepOrderError(FieldError, ValueError):
    code = "step_order"


class NamespaceConflictError(FieldError):
    code = "namespace_conflict"


class ProtectedPathError(FieldError):
    code = "protected_path"


class StageChangeError(ProtectedPathError):
    code = "stage_change"


class InactiveContainerError(NaiadError):
    code = "inactive"


class QueryError(NaiadError, ValueError):
    """A query that does not parse; ``position`` is the 0-based offset of the offending token."""

    code = "invalid_query"

    def __init__(self, message: str, query: str = "", position: int | None = None) -> None:
        if position is not None and query:
            pointer = " " * position + "^"
            message = f"{message} (at position {position})\n  {query}\n  {pointer}"
        super().__init__(message, query=query, position=position)
        self.query = query
        self.position = position


class StoreError(NaiadError):
    code = "store_error"


class StoreLockedError(StoreError):
    code = "store_locked"


class SchemaVersionError(StoreError):
    code = "schema_version"


class StoreUnavailableError(StoreError):
    code = "store_unavailable"


class DiskFullError(StoreUnavailableError):
    """The disk under the store is full: nothing stored is lost, writes wait until there is room."""

    code = "disk_full"


class AuthError(NaiadError):
    code = "unauthenticated"


class PermissionDeniedError(AuthError):
    code = "permission_denied"


class PolicyError(PermissionDeniedError):
    code = "policy_refused"


class RequestError(NaiadError, ValueError):
    code = "bad_request"


class FileError(NaiadError):
    code = "file_error"


class IntegrityError(FileError):
    code = "integrity_error"


def all_error_classes() -> dict[str, type[NaiadError]]:
    """Map every error code to its class (used to turn an HTTP error envelope back into an exception)."""
    out: dict[str, type[NaiadError]] = {}
    stack: list[type[NaiadError]] = [NaiadError]
    while stack:
        cls = stack.pop()
        out[cls.code] = cls
        stack.extend(cls.__subclasses__())
    return out
