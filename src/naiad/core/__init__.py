"""The vocabulary every layer speaks: field paths and kinds (``fields``), the operations a client asks a
store to apply (``ops``), the op log they are made durable in (``oplog``), and the query language of the
runs table (``query``).

Layer 1. May import: ``naiad.errors``, ``naiad.config``, ``naiad.version``. Nothing above.
"""
