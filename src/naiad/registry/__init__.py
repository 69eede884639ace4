"""The model registry: models and their versions with stages and aliases (``model``), the registry's
history at any time (``history``), and the deployment bundles the backend team fetches (``bundle``).

Layer 5. May import: ``naiad.data``, ``naiad.tracking`` and everything below them.
"""
