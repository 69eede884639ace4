"""Data profiles and drift: a dataset's profile (``profile``), the drift between two profiles (``drift``),
and profiles stored with runs and model versions, compared as training–serving skew (``skew``).

Layer 4. May import: ``naiad.tracking`` and everything below it.
"""
