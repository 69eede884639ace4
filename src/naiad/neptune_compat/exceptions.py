"""neptune 1.x exception names, mapped onto naiad's one exception tree (:mod:`naiad.errors`).

Code that catches ``neptune.exceptions.MissingFieldException`` keeps working after
``import naiad as neptune``.
"""

from __future__ import annotations

from naiad.errors import (
    AuthError,
    ConfigError,
    ContainerNotFound,
    DiskFullError,
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
    NotFoundError,
    PermissionDeniedError,
    ProjectNotFound,
    ProtectedPathError,
    QueryError,
    RequestError,
    RunNotFound,
    StageChangeError,
    StoreError,
    StoreUnavailableError,
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
# the rest of neptune's names, so that code (and integrations) naming them in `except` keeps importing;
# each is the naiad error raised in the same situation (several never arise on naiad: no quotas, no SSL)
ArtifactNotFoundException = MissingFieldError
OperationNotSupported = FieldTypeError
NeptuneMissingApiTokenException = AuthError
NeptuneInvalidApiTokenException = AuthError
Unauthorized = AuthError
Forbidden = PermissionDeniedError
ProjectNotFoundWithSuggestions = ProjectNotFound
AmbiguousProjectName = ProjectNotFound
NeptuneLegacyProjectException = ConfigError
NeptunePossibleLegacyUsageException = ConfigError
NeptuneLegacyIncompatibilityException = ConfigError
NeptuneUninitializedException = ConfigError
NeptuneNoExperimentContextException = ConfigError
NeptuneUnsupportedFunctionalityException = ConfigError
NeptuneFeatureNotAvailableException = ConfigError
NeptuneSynchronizationAlreadyStoppedException = InactiveContainerError
NeptuneMaxDiskUtilizationExceeded = DiskFullError
FileSetUploadError = FileError
StreamAlreadyUsedException = FileError
NeptuneEmptyLocationException = FileError
ArtifactUploadingError = FileError
NeptuneUnsupportedArtifactFunctionalityException = FileError
NeptuneLocalStorageAccessException = FileError
NeptuneRemoteStorageCredentialsException = FileError
NeptuneRemoteStorageAccessException = FileError
NeptuneUnhandledArtifactSchemeException = FileError
NeptuneUnhandledArtifactTypeException = FileError
NeptuneLimitExceedException = RequestError
NeptuneFieldCountLimitExceedException = RequestError
NeptuneStorageLimitException = RequestError
NeptuneConnectionLostException = StoreUnavailableError
InternalServerError = StoreError
ClientHttpError = RequestError
NeptuneSSLVerificationError = StoreUnavailableError
NeptuneNotFound = NotFoundError


class PlotlyIncompatibilityException(Exception):
    """A matplotlib figure that cannot become an interactive (plotly) chart (a plain Exception, as in neptune)."""

__all__ = [
    "AmbiguousProjectName",
    "ArtifactNotFoundException",
    "ArtifactUploadingError",
    "ClientHttpError",
    "FetchAttributeNotFoundException",
    "FileNotFound",
    "FileSetUploadError",
    "FileUploadError",
    "Forbidden",
    "InactiveContainerException",
    "InactiveModelException",
    "InactiveModelVersionException",
    "InactiveProjectException",
    "InactiveRunException",
    "InternalServerError",
    "MetadataContainerNotFound",
    "MetadataInconsistency",
    "MissingFieldException",
    "ModelNotFound",
    "ModelVersionNotFound",
    "NeedExistingModelForReadOnlyMode",
    "NeedExistingModelVersionForReadOnlyMode",
    "NeedExistingRunForReadOnlyMode",
    "NeptuneCannotChangeStageManually",
    "NeptuneConnectionLostException",
    "NeptuneEmptyLocationException",
    "NeptuneException",
    "NeptuneFeatureNotAvailableException",
    "NeptuneFieldCountLimitExceedException",
    "NeptuneInvalidApiTokenException",
    "NeptuneInvalidQueryException",
    "NeptuneLegacyIncompatibilityException",
    "NeptuneLegacyProjectException",
    "NeptuneLimitExceedException",
    "NeptuneLocalStorageAccessException",
    "NeptuneMaxDiskUtilizationExceeded",
    "NeptuneMissingApiTokenException",
    "NeptuneMissingProjectNameException",
    "NeptuneMissingRequiredInitParameter",
    "NeptuneModelKeyAlreadyExistsError",
    "NeptuneNamespaceConflict",
    "NeptuneNoExperimentContextException",
    "NeptuneNotFound",
    "NeptuneOfflineModeChangeStageException",
    "NeptuneOfflineModeFetchException",
    "NeptunePossibleLegacyUsageException",
    "NeptuneProtectedPathException",
    "NeptuneRemoteStorageAccessException",
    "NeptuneRemoteStorageCredentialsException",
    "NeptuneRunResumeAndCustomIdCollision",
    "NeptuneSSLVerificationError",
    "NeptuneStorageLimitException",
    "NeptuneSynchronizationAlreadyStoppedException",
    "NeptuneUnhandledArtifactSchemeException",
    "NeptuneUnhandledArtifactTypeException",
    "NeptuneUninitializedException",
    "NeptuneUnsupportedArtifactFunctionalityException",
    "NeptuneUnsupportedFunctionalityException",
    "NeptuneUserApiInputException",
    "NeptuneWrongInitParametersException",
    "OperationNotSupported",
    "PlotlyIncompatibilityException",
    "ProjectNotFound",
    "ProjectNotFoundWithSuggestions",
    "RunNotFound",
    "StreamAlreadyUsedException",
    "TypeDoesNotSupportAttributeException",
    "Unauthorized",
]
