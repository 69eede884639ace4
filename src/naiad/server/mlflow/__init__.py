"""The MLflow tracking REST protocol: the routes the real ``mlflow`` client calls
(``MLFLOW_TRACKING_URI`` pointed at a naiad server), so MLflow code and the integrations built on it
log into naiad unchanged.

Empty until that adapter lands.  Its shape, as for every protocol adapter: modules of routes with
``register(app, api)`` (:class:`naiad.server.context.Api`: the store and the access checks), mounted
by :func:`naiad.server.app.create_app`; requests translated into the store protocol
(:mod:`naiad.store.base`) and the SDK's vocabulary (:mod:`naiad.core`); nothing imported from another
adapter (``tests/test_layers.py`` checks it).
"""
