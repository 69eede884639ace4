"""The neptune wire protocol: the routes the real ``neptune`` 1.x client calls, so that code written
for neptune.ai logs into a naiad server unchanged (``NEPTUNE_API_TOKEN`` and the project name it
already has).

A first slice is served (docs/neptune-wire.md says what the client calls; docs/neptune-compat.md what
is served): ``tokens`` (NEPTUNE_API_TOKEN, the JWTs it is exchanged for), ``swagger`` (the documents the
client builds its HTTP client from), ``operations`` (the client's operations as naiad ops), ``routes``.
Its shape, as for every protocol adapter: modules of routes with
``register(app, api)`` (:class:`naiad.server.context.Api`: the store and the access checks), mounted
by :func:`naiad.server.app.create_app`; requests translated into the store protocol
(:mod:`naiad.store.base`) and the SDK's vocabulary (:mod:`naiad.core`); nothing imported from another
adapter (``tests/test_layers.py`` checks it).
"""
