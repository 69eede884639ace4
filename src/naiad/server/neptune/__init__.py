"""The neptune wire protocol: the routes the real ``neptune`` 1.x client calls, so that code written
for neptune.ai logs into a naiad server unchanged (``NEPTUNE_API_TOKEN`` and the project name it
already has).

Empty until that adapter lands.  Its shape, as for every protocol adapter: modules of routes with
``register(app, api)`` (:class:`naiad.server.context.Api`: the store and the access checks), mounted
by :func:`naiad.server.app.create_app`; requests translated into the store protocol
(:mod:`naiad.store.base`) and the SDK's vocabulary (:mod:`naiad.core`); nothing imported from another
adapter (``tests/test_layers.py`` checks it).
"""
