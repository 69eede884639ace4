"""Lightning's ``NeptuneLogger``, unchanged, logs into a naiad server through the real neptune client
(issue 20).  Lightning 2.6 replaced the logger with a stub that raises "Neptune has been sunset", so the
test layers the last release that has it (requirements/lightning-neptune.txt: Lightning 2.5.6, hash-pinned)
over the test environment, whose packages are every dependency it has."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_script
from neptune_client import client_env, contributor_server
from services import TeamServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lightning_2_5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lightning-2.5")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(folder),
                           "-r", str(ROOT / "requirements" / "lightning-neptune.txt")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"could not install Lightning 2.5 from the registry: {done.stderr[-2000:]}"
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    yield from contributor_server(tmp_path_factory, "neptune-lightning")


TRAIN = """
import torch
import lightning as L
from lightning.pytorch.loggers import NeptuneLogger

class Regressor(L.LightningModule):
    def __init__(self, lr=0.05):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)
    def training_step(self, batch, i):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)
        self.log("train/loss", loss)
        return loss
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

print("LIGHTNING", L.__version__)
torch.manual_seed(0)
X = torch.randn(64, 4)
data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, X.sum(1)), batch_size=8)
logger = NeptuneLogger(log_model_checkpoints=False, capture_hardware_metrics=False, source_files=[], git_ref=False)
trainer = L.Trainer(max_epochs=2, logger=logger, log_every_n_steps=1, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
trainer.fit(Regressor(), data)
print("ID", logger.run["sys/id"].fetch())
logger.run.stop()
"""


def test_lightning_neptune_logger_logs_a_fit(lightning_2_5: Path, server: TeamServer, tmp_path: Path) -> None:
    env = client_env(server, "nell", tmp_path) | {
        "PYTHONPATH": os.pathsep.join([str(lightning_2_5), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    result = run_script(TRAIN, env=env, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "LIGHTNING 2.5.6" in result.stdout
    short_id = result.stdout.split("ID ", 1)[1].split()[0]
    info = server.store.get_container(short_id=short_id)
    fields = server.store.read_fields(info.uuid)
    assert fields["training/hyperparams/lr"].value == 0.05 and fields["training/status"].value == "success"
    loss = server.store.read_series(info.uuid, "training/train/loss")
    assert len(loss.values) == 16 and loss.values[-1] < loss.values[0]  # 8 batches × 2 epochs, and it learned
    assert fields["source_code/integrations/pytorch-lightning"].value == "2.5.6"
