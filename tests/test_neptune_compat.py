"""A training script written for the neptune 1.x client runs unchanged with ``import naiad as neptune``.

The script below is plain neptune 1.x code (the way its docs and integrations use the client).  The
test swaps only the import line, runs it in a fresh interpreter, and then reads what it stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import naiad

NEPTUNE_SCRIPT = r'''
import os
import pickle
import random

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import neptune

PARAMS = {
    "lr": 0.01,
    "batch_size": 32,
    "epochs": 5,
    "optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True},
    "layers": [64, 32, 10],
    "dropout": None,
}

# a small "dataset" to version
os.makedirs("data/train", exist_ok=True)
for i in range(3):
    with open(f"data/train/part-{i}.csv", "w") as fh:
        fh.write("x,y\n" + "\n".join(f"{j},{j % 2}" for j in range(i * 10, i * 10 + 10)) + "\n")

run = neptune.init_run(
    name="sgd-baseline",
    description="neptune 1.x script",
    tags=["mnist", "baseline"],
    capture_hardware_metrics=False,
    source_files=["train_neptune.py"],
    api_token=neptune.ANONYMOUS_API_TOKEN,
)
run["parameters"] = neptune.utils.stringify_unsupported(PARAMS)
run["data/version/train"].track_files("data/train")

random.seed(0)
best_acc = 0.0
for epoch in range(PARAMS["epochs"]):
    for batch in range(10):
        run["train/batch/loss"].append(1.0 / (1 + epoch * 10 + batch))
    loss = 1.0 / (epoch + 1)
    acc = 0.5 + epoch * 0.1
    run["train/loss"].append(loss)
    run["eval/acc"].log(acc, step=epoch)
    run["eval/epoch_note"].append(f"epoch {epoch}: acc={acc:.2f}")
    best_acc = max(best_acc, acc)

image = np.linspace(0, 1, 64 * 64).reshape(64, 64)
run["eval/sample_image"].upload(neptune.types.File.as_image(image))
run["eval/predictions"].append(neptune.types.File.as_image(image))
run["eval/predictions"].append(neptune.types.File.as_image(1 - image))

fig, ax = plt.subplots()
ax.plot([0, 0.2, 1], [0, 0.8, 1])
ax.set_title("ROC")
run["eval/roc"].upload(fig)
plt.close(fig)

with open("model.pkl", "wb") as fh:
    pickle.dump({"weights": [0.1, 0.2, 0.3]}, fh)
run["model/weights"].upload("model.pkl")
run["model/pickled"].upload(neptune.types.File.as_pickle({"weights": [0.1, 0.2, 0.3]}))
run["eval/best_acc"] = best_acc
run["sys/tags"].add("candidate")
run.wait()

fetched = {
    "params": run["parameters"].fetch(),
    "last_loss": run["train/loss"].fetch_last(),
    "acc_steps": run["eval/acc"].fetch_values()["step"].tolist(),
    "exists": run.exists("train/loss"),
    "run_id": run["sys/id"].fetch(),
    "tags": sorted(run["sys/tags"].fetch()),
    "artifact_hash": run["data/version/train"].fetch_hash(),
    "structure_has_eval": "eval" in run.get_structure(),
}
try:
    run["does/not/exist"].fetch()
    fetched["missing"] = "no exception"
except neptune.exceptions.MissingFieldException:
    fetched["missing"] = "caught"
run.stop()

project = neptune.init_project(project=os.environ["NEPTUNE_PROJECT"], mode="read-only")
runs_df = project.fetch_runs_table(tag="candidate", columns=["parameters/lr", "eval/acc", "sys/tags"]).to_pandas()
fetched["table_ids"] = runs_df["sys/id"].tolist()
fetched["table_lr"] = runs_df["parameters/lr"].tolist()
fetched["table_acc"] = runs_df["eval/acc"].tolist()
fetched["table_tags"] = runs_df["sys/tags"].tolist()

old = neptune.init_run(with_id=fetched["run_id"], mode="read-only")
fetched["reopened_loss_count"] = len(old["train/loss"].fetch_values())
old.stop()
print("RESULT " + __import__("json").dumps(fetched))
'''


def _as_naiad(script: str) -> str:
    assert script.count("import neptune\n") == 1
    return script.replace("import neptune\n", "import naiad as neptune\n")


@pytest.fixture
def neptune_run_output(tmp_path: Path) -> dict[str, object]:
    """Run the neptune script with only its import swapped; return what it printed."""
    script = tmp_path / "train_neptune.py"
    script.write_text(_as_naiad(NEPTUNE_SCRIPT))
    import os

    env = dict(os.environ)
    env["NEPTUNE_PROJECT"] = "my-workspace/digits"
    env["NEPTUNE_API_TOKEN"] = "ANONYMOUS"
    env["MPLBACKEND"] = "Agg"
    env.pop("NAIAD_RAISE_ON_ERROR", None)  # the way users run it
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "[naiad] error" not in done.stderr, done.stderr
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, done.stdout
    result: dict[str, object] = json.loads(lines[0][len("RESULT "):])
    return result


def test_neptune_script_fetches_its_own_data(neptune_run_output: dict[str, object]) -> None:
    out = neptune_run_output
    assert out["params"] == {"lr": 0.01, "batch_size": 32, "epochs": 5, "layers": "[64, 32, 10]",
                             "dropout": "None", "optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True}}
    assert out["last_loss"] == pytest.approx(0.2)
    assert out["acc_steps"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert out["exists"] is True
    assert out["tags"] == ["baseline", "candidate", "mnist"]
    assert out["missing"] == "caught"
    assert out["structure_has_eval"] is True
    assert out["table_ids"] == [out["run_id"]]
    assert out["table_lr"] == [0.01]
    assert out["table_acc"] == [pytest.approx(0.9)]
    assert out["table_tags"] == ["baseline,candidate,mnist"]
    assert out["reopened_loss_count"] == 5


def test_neptune_script_data_is_in_the_store(neptune_run_output: dict[str, object], tmp_path: Path) -> None:
    run_id = str(neptune_run_output["run_id"])
    assert run_id.startswith("DIG-")
    run = naiad.init_run(with_id=run_id, mode="read-only")
    assert run["sys/name"].fetch() == "sgd-baseline"
    assert run["sys/description"].fetch() == "neptune 1.x script"
    assert run["sys/state"].fetch() == "finished"
    assert run["sys/failed"].fetch() is False
    assert run["parameters/optimizer/momentum"].fetch() == 0.9
    assert run["parameters/layers"].fetch() == "[64, 32, 10]"
    assert len(run["train/batch/loss"].fetch_values()) == 50
    assert run["train/loss"].fetch_values()["value"].tolist() == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert run["eval/acc"].fetch_values()["value"].tolist() == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    assert run["eval/epoch_note"].fetch_last() == "epoch 4: acc=0.90"
    assert run["eval/best_acc"].fetch() == pytest.approx(0.9)

    out = tmp_path / "downloaded"
    out.mkdir()
    run["eval/roc"].download(str(out))
    assert (out / "roc.png").read_bytes()[:4] == b"\x89PNG"
    run["eval/sample_image"].download(str(out))
    assert (out / "sample_image.png").read_bytes()[:4] == b"\x89PNG"
    run["eval/predictions"].download(str(out / "preds"))
    assert len(list((out / "preds").iterdir())) == 2
    run["model/weights"].download(str(out))
    assert (out / "weights.pkl").read_bytes() == (tmp_path / "model.pkl").read_bytes()

    assert run["data/version/train"].fetch_hash() == neptune_run_output["artifact_hash"]
    files = sorted(f.file_path for f in run["data/version/train"].fetch_files_list())
    assert files == ["part-0.csv", "part-1.csv", "part-2.csv"]

    run["source_code/files"].download(str(out))
    with zipfile.ZipFile(out / "files.zip") as zf:
        assert [Path(n).name for n in zf.namelist()] == ["train_neptune.py"]
        assert b"import naiad as neptune" in zf.read(zf.namelist()[0])

    project = naiad.init_project(project="my-workspace/digits", mode="read-only")
    table = project.fetch_runs_table(query="`eval/best_acc`:float > 0.8").to_pandas()
    assert table["sys/id"].tolist() == [run_id]


def test_neptune_exception_names_are_the_naiad_errors() -> None:
    run = naiad.init_run(project="compat")
    with pytest.raises(naiad.exceptions.MissingFieldException):
        run["nothing/here"].fetch()
    run["x"] = 1.0
    with pytest.raises(naiad.exceptions.MetadataInconsistency):
        run["x"] = "text"
    run.stop()
    with pytest.raises(naiad.exceptions.InactiveRunException):
        run["x"] = 2.0
    assert issubclass(naiad.exceptions.NeptuneException, Exception)
