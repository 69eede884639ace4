"""``naiad server``: the HTTP API ``/api/v1`` over an embedded or a PostgreSQL + S3 store.

``naiad.server.app.create_app`` builds the ASGI app (needs the ``server`` extra: FastAPI, uvicorn).
Nothing here is imported by the training-side SDK.
"""
