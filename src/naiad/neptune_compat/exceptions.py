"""neptune 1.x exception names, mapped onto naiad's one exception tree (:mod:`naiad.errors`).

Code that catches ``neptune.exceptions.MissingFieldException`` keeps working after
``import naiad as neptune``.
"""

from __future__ import annotations

from naiad.errors import (
    ConfigError,
    ContainerNotFound,
    FieldError,
    FieldTypeError,
    FileError,
    InactiveContainerError,
    InvalidValueError,
    MissingFieldError,
    MissingProjectError,
    ModelKeyTakenError,
    ModelNotFound,
    ModelVersionNotFound,
    NaiadError,
    NamespaceConflictError,
    ProjectNotFound,
    ProtectedPathError,
    QueryError,
    RunNotFound,
    StageChangeError,
)

NeptuneException = NaiadError
MetadataInconsistency = FieldError
MissingFieldException = MissingFieldError
FetchAttributeNotFoundException = MissingFieldError
TypeDoesNotSupportAttributeException = FieldTypeError
NeptuneUserApiInputException = InvalidValueError
InactiveRunException = InactiveContainerError
InactiveProjectException = InactiveContainerError
InactiveContainerException = InactiveContainerError
MetadataContainerNotFound = ContainerNotFound
NeptuneMissingProjectNameException = MissingProjectError
NeedExistingRunForReadOnlyMode = ConfigError
NeptuneWrongInitParametersException = ConfigError
NeptuneRunResumeAndCustomIdCollision = ConfigError
NeptuneOfflineModeFetchException = ConfigError
NeptuneProtectedPathException = ProtectedPathError
NeptuneInvalidQueryException = QueryError
FileNotFound = FileError
FileUploadError = FileError
NeptuneNamespaceConflict = NamespaceConflictError
InactiveModelException = InactiveContainerError
InactiveModelVersionException = InactiveContainerError
NeptuneCannotChangeStageManually = StageChangeError
NeptuneModelKeyAlreadyExistsError = ModelKeyTakenError
NeptuneMissingRequiredInitParameter = ConfigError
NeptuneOfflineModeChangeStageException = ConfigError
NeedExistingModelForReadOnlyMode = ConfigError
NeedExistingModelVersionForReadOnlyMode = ConfigError

__all__ = [
    "FetchAttributeNotFoundException",
    "FileNotFound",
    "FileUploadError",
    "InactiveContainerException",
    "InactiveModelException",
    "InactiveModelVersionException",
    "InactiveProjectException",
    "InactiveRunException",
    "MetadataContainerNotFound",
    "MetadataInconsistency",
    "MissingFieldException",
    "ModelNotFound",
    "ModelVersionNotFound",
    "NeedExistingModelForReadOnlyMode",
    "NeedExistingModelVersionForReadOnlyMode",
    "NeedExistingRunForReadOnlyMode",
    "NeptuneCannotChangeStageManually",
    "NeptuneException",
    "NeptuneInvalidQueryException",
    "NeptuneMissingProjectNameException",
    "NeptuneMissingRequiredInitParameter",
    "NeptuneModelKeyAlreadyExistsError",
    "NeptuneNamespaceConflict",
    "NeptuneOfflineModeChangeStageException",
    "NeptuneOfflineModeFetchException",
    "NeptuneProtectedPathException",
    "NeptuneRunResumeAndCustomIdCollision",
    "NeptuneUserApiInputException",
    "NeptuneWrongInitParametersException",
    "ProjectNotFound",
    "RunNotFound",
    "TypeDoesNotSupportAttributeException",
]
