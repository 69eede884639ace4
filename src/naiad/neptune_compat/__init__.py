"""neptune 1.x's public modules under their neptune names, so that ``import naiad as neptune`` code
keeps running: ``naiad.types`` (value classes and ``File``), ``naiad.utils`` (``stringify_unsupported``)
and ``naiad.exceptions`` (neptune's exception names on naiad's one exception tree).

``naiad/__init__.py`` makes each importable under its neptune name (``from naiad.types import File``);
type-checked code can import them from here (``from naiad.neptune_compat.types import File``).

Layer 4 (beside ``naiad.data``). May import: ``naiad.tracking`` and everything below it.
"""
