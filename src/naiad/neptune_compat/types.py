"""``neptune.types``: the value classes that pick a field type explicitly, and the ``File`` helper."""

from naiad.tracking.files import File
from naiad.tracking.values import (
    Artifact,
    Boolean,
    Datetime,
    FileSeries,
    FileSet,
    Float,
    FloatSeries,
    GitRef,
    Integer,
    Namespace,
    String,
    StringifyValue,
    StringSeries,
    StringSet,
    Value,
)

__all__ = ["Artifact", "Boolean", "Datetime", "File", "FileSeries", "FileSet", "Float", "FloatSeries", "GitRef",
           "Integer", "Namespace", "String", "StringSeries", "StringSet", "StringifyValue", "Value"]
