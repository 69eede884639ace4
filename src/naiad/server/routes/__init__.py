"""The route groups of ``/api/v1``, one module each; every module has ``register(app, api)``.

Layer 9 (the server): route modules import :mod:`naiad.server.context` (the store and the access
checks), :mod:`naiad.server.errors` and the layers below the server; not each other.
"""

from __future__ import annotations

from . import blobs, containers, datasets, models, projects, registry, service, tables, ui, webhooks, writes

# in the order they are added to the app (the OpenAPI document lists them so)
GROUPS = (service, projects, containers, writes, tables, models, ui, registry, webhooks, datasets, blobs)

__all__ = ["GROUPS"]
