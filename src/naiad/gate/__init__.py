"""The promotion gate: paired comparisons of two models on the same examples (``paired``) and the rules
that promote a retrained model only when the evidence says it is better (``promote``).

Layer 7. May import: ``naiad.monitoring`` and everything below it.
"""
