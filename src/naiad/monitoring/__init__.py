"""Production monitoring: evaluating a model version on a dataset (``evaluation``), with its metrics and
their intervals (``metrics``) and plots (``plots``), and each model's evaluations over time with the rule
that says it degraded (``monitor``).

Layer 6. May import: ``naiad.registry``, ``naiad.data``, ``naiad.tracking`` and everything below them.
"""
