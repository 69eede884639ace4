"""Integrations built on the real neptune client, unchanged, logging into a naiad server (issue 20):
neptune-optuna, neptune-xgboost and transformers' ``Trainer(report_to="neptune")``.  Only the client's
environment points them at naiad; what they logged is read back through naiad's store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from neptune_client import contributor_server, neptune
from services import TeamServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    yield from contributor_server(tmp_path_factory, "neptune-integrations")


def landed(server: TeamServer, out: str) -> tuple[str, dict]:
    short_id = next(line.split()[1] for line in out.splitlines() if line.startswith("ID "))
    info = server.store.get_container(short_id=short_id)
    return info.uuid, server.store.read_fields(info.uuid)


OPTUNA = """
import neptune, optuna
import neptune_optuna as npt_utils
optuna.logging.set_verbosity(optuna.logging.WARNING)
run = neptune.init_run(capture_hardware_metrics=False, source_files=[], git_ref=False)
study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=6, callbacks=[npt_utils.NeptuneCallback(run)])
print("ID", run["sys/id"].fetch())
print("BEST", study.best_value)
run.stop()
"""


def test_neptune_optuna_logs_a_study(server: TeamServer, tmp_path: Path) -> None:
    out = neptune(OPTUNA, server, "nell", tmp_path, timeout=240)
    uuid, fields = landed(server, out)
    best = float(out.split("BEST ", 1)[1].split()[0])
    values = server.store.read_series(uuid, "trials/values")
    assert len(values.values) == 6 and min(values.values) == pytest.approx(best)
    assert fields["best/value"].value == pytest.approx(best)
    assert fields["trials/trials/0/params/x"].type == "Float"
    for plot in ("plot_optimization_history", "plot_slice", "plot_param_importances"):
        ref = fields[f"visualizations/{plot}"]
        assert ref.type == "File" and server.store.blobs.size(ref.value["hash"]) > 1000  # the html, stored once


XGBOOST = """
import neptune, numpy as np, xgboost as xgb
from neptune_xgboost import NeptuneCallback
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 5)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
dtrain, dval = xgb.DMatrix(X[:150], label=y[:150]), xgb.DMatrix(X[150:], label=y[150:])
run = neptune.init_run(capture_hardware_metrics=False, source_files=[], git_ref=False)
booster = xgb.train({"objective": "binary:logistic", "eval_metric": ["logloss"], "max_depth": 2}, dtrain,
                    num_boost_round=5, evals=[(dtrain, "train"), (dval, "valid")],
                    callbacks=[NeptuneCallback(run=run, log_tree=None)])   # trees need graphviz's dot binary
print("ID", run["sys/id"].fetch())
run.stop()
"""


def test_neptune_xgboost_logs_a_training(server: TeamServer, tmp_path: Path) -> None:
    out = neptune(XGBOOST, server, "nell", tmp_path, timeout=240)
    uuid, fields = landed(server, out)
    for split in ("train", "valid"):
        loss = server.store.read_series(uuid, f"training/{split}/logloss")
        assert loss.steps.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and loss.values[-1] < loss.values[0]
    assert fields["training/booster_config/learner/objective/name"].value == "binary:logistic"
    assert fields["training/pickled_model"].type == "File" and fields["training/plots/importance"].type == "File"


TRANSFORMERS = """
import os
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

torch.manual_seed(0)
config = BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                    max_position_embeddings=16, num_labels=2)   # randomly initialised: nothing downloaded

class Data(torch.utils.data.Dataset):
    def __len__(self):
        return 16
    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"input_ids": torch.randint(0, 32, (8,), generator=g), "labels": torch.tensor(i % 2)}

args = TrainingArguments(output_dir="out", report_to="neptune", max_steps=4, logging_steps=1,
                         per_device_train_batch_size=4, save_strategy="no", use_cpu=True, learning_rate=1e-3,
                         disable_tqdm=True)
trainer = Trainer(model=BertForSequenceClassification(config), args=args, train_dataset=Data(), eval_dataset=Data())
trainer.train()
trainer.evaluate()
"""


def test_transformers_trainer_reports_to_neptune(server: TeamServer, tmp_path: Path) -> None:
    out = neptune(TRANSFORMERS.replace("import os\n", "import os\nos.environ['HF_HUB_OFFLINE'] = '1'\n"), server,
                  "nell", tmp_path, timeout=300)
    short_id = out.split("Open in the app: ", 1)[1].split()[0].rsplit("/", 1)[1]  # the client says which run
    uuid, fields = landed(server, f"ID {short_id}")
    loss = server.store.read_series(uuid, "finetuning/train/loss")
    assert loss.steps.tolist() == [1.0, 2.0, 3.0, 4.0]  # one point a logging step, at the trainer's step
    assert server.store.read_series(uuid, "finetuning/eval/loss").values[-1] > 0
    assert fields["finetuning/trainer_parameters/max_steps"].value == 4
    assert fields["finetuning/trainer_parameters/learning_rate"].value == pytest.approx(1e-3)
    assert fields["source_code/integrations/transformers"].type == "String"


TF_KERAS = """
import os
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import neptune, numpy as np
import tensorflow as tf
from neptune.integrations.tensorflow_keras import NeptuneCallback   # neptune-tensorflow-keras
tf.keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
X = rng.normal(size=(64, 4)).astype("float32"); y = (X[:, 0] > 0).astype("float32")
model = tf.keras.Sequential([tf.keras.Input(shape=(4,)), tf.keras.layers.Dense(4, activation="relu"),
                             tf.keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
run = neptune.init_run(capture_hardware_metrics=False, source_files=[], git_ref=False)
history = model.fit(X, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                    callbacks=[NeptuneCallback(run=run, base_namespace="metrics")])
print("ID", run["sys/id"].fetch())
print("LOSS", history.history["loss"][-1])
run.stop()
"""


def test_neptune_tensorflow_keras_logs_a_fit(server: TeamServer, tmp_path: Path) -> None:
    out = neptune(TF_KERAS, server, "nell", tmp_path, timeout=300)
    uuid, fields = landed(server, out)
    loss = server.store.read_series(uuid, "metrics/train/epoch/loss")
    assert loss.steps.tolist() == [0.0, 1.0, 2.0]
    assert loss.values[-1] == pytest.approx(float(out.split("LOSS ", 1)[1].split()[0]), rel=1e-6)
    assert len(server.store.read_series(uuid, "metrics/validation/epoch/accuracy").values) == 3
    assert fields["metrics/fit_params/epochs"].value == 3 and fields["metrics/model/summary"].type == "File"
    assert fields["metrics/model/optimizer_config/name"].value == "adam"
