"""Framework integrations, one small module each (their framework is an optional dependency).

- ``naiad.integrations.sklearn`` — ``log_classifier`` / ``log_regressor`` for scikit-learn estimators.
- ``naiad.integrations.keras`` — ``NaiadCallback`` for Keras 3 ``fit``.
- ``naiad.integrations.lightning`` — ``NaiadLogger`` for PyTorch Lightning.
- ``naiad.integrations.boosting`` — LightGBM / XGBoost callbacks and ``log_booster``.
- ``naiad.integrations.optuna`` — ``NaiadOptunaCallback`` for Optuna studies.
- ``naiad.integrations.tensorboard`` — mirror ``SummaryWriter`` writes into a run.
"""
