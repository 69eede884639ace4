"""The ``naiad`` command: the entry point and top-level commands (``main``), one module per command group
(``registry``, ``monitor``, ``gate``, ``webhooks``, ``server``), what they share (``common``) and the demo
job (``demo``). A thin shell: every command calls the SDK, a store or the server.

Layer 9 (the top). May import anything; nothing imports it but ``naiad.__main__``.
"""
