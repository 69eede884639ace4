"""PyTorch Lightning integration: a real `Trainer.fit` of a tiny model on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

import naiad  # noqa: E402
from naiad.core.fields import StepOrderWarning  # noqa: E402
from naiad.integrations.lightning import NaiadLogger  # noqa: E402


class TinyModel(pl.LightningModule):
    def __init__(self, lr: float = 0.05, hidden: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x).squeeze(-1), y)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.log("val/loss", self._loss(batch), on_epoch=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _loaders() -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen)
    y = x[:, 0] - 2 * x[:, 1]
    data = torch.utils.data.TensorDataset(x, y)
    return (torch.utils.data.DataLoader(data, batch_size=16), torch.utils.data.DataLoader(data, batch_size=32))


def test_fit_logs_hyperparams_metrics_checkpoints_and_status(tmp_path: Path) -> None:
    pl.seed_everything(0)
    logger = NaiadLogger(project="lightning", name="tiny")
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/loss", save_top_k=2,
                                              save_last=True)
    trainer = pl.Trainer(max_epochs=4, logger=logger, callbacks=[checkpoint], log_every_n_steps=1,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    train, val = _loaders()
    trainer.fit(TinyModel(), train, val)
    run = naiad.init_run(with_id=logger.version, mode="read-only")
    assert run["sys/name"].fetch() == "tiny" and run["sys/state"].fetch() == "finished"
    assert run["training/hyperparams/lr"].fetch() == 0.05 and run["training/hyperparams/hidden"].fetch() == 8
    steps = run["training/train/loss_step"].fetch_values()["step"].tolist()
    assert steps == sorted(steps) and len(steps) == 16  # 4 batches × 4 epochs
    assert len(run["training/val/loss"].fetch_values()) == 4
    assert run["training/status"].fetch() == "success"  # as Lightning reports it
    stored = set(run.get_structure()["training"]["model"]["checkpoints"])
    kept = {Path(p).stem for p in checkpoint.best_k_models} | {"last"}
    assert stored == kept  # save_top_k=2 plus last: the others were deleted again
    assert run["training/model/best_model_path"].fetch() == checkpoint.best_model_path
    assert abs(run["training/model/best_model_score"].fetch() - float(checkpoint.best_model_score)) < 1e-6
    best = Path(checkpoint.best_model_path).stem
    run[f"training/model/checkpoints/{best}"].download(str(tmp_path / "best.ckpt"))
    restored = TinyModel.load_from_checkpoint(tmp_path / "best.ckpt")
    assert restored.hparams.hidden == 8
    assert not list((tmp_path / "ckpt" / ".naiad-staging").iterdir())  # snapshot links removed once stored


def test_a_run_opened_by_the_user_is_used_and_left_open(tmp_path: Path) -> None:
    run = naiad.init_run(project="lightning")
    with pytest.raises(ValueError, match="either run="):
        NaiadLogger(run=run, project="other")
    logger = NaiadLogger(run=run, prefix="stage1", log_model_checkpoints=False)
    trainer = pl.Trainer(max_epochs=1, logger=logger, enable_checkpointing=False, log_every_n_steps=1,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    train, val = _loaders()
    trainer.fit(TinyModel(), train, val)
    assert run.get_state() == "started"
    assert len(run["stage1/train/loss_step"].fetch_values()) == 4
    assert not run.exists("stage1/model/checkpoints")
    run.stop()


class StepEchoLogger(pl.loggers.Logger):
    """Logs as Lightning's own NeptuneLogger does: every metric appended at Lightning's step, with no
    check — Lightning hands ``epoch`` over from the train and the validation hooks at one step."""

    def __init__(self, run: Any) -> None:
        super().__init__()
        self.run = run

    @property
    def name(self) -> str:
        return "echo"

    @property
    def version(self) -> str:
        return str(self.run["sys/id"].fetch())

    def log_hyperparams(self, params: object) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.run[f"training/{key}"].append(float(value), step=step)


def test_a_step_logged_twice_drops_the_point_and_the_fit_goes_on(recwarn: pytest.WarningsRecorder) -> None:
    # issue 19, hole 10: this fit died of StepOrderError at the call (status failed)
    pl.seed_everything(0)
    run = naiad.init_run(project="lightning", capture_stdout=False, capture_stderr=False,
                         capture_hardware_metrics=False, source_files=[])
    trainer = pl.Trainer(max_epochs=3, logger=StepEchoLogger(run), log_every_n_steps=1, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, accelerator="cpu")
    train, val = _loaders()
    trainer.fit(TinyModel(), train, val)
    run.wait()
    epochs = run["training/epoch"].fetch_values()
    steps = epochs["step"].tolist()
    assert steps == sorted(set(steps)) and len(steps) >= 3  # one point per step, the repeats dropped
    dropped = int(run["sys/errors"].fetch())
    assert dropped >= 3 and "point dropped: step" in run["sys/last_error"].fetch()
    run_id = str(run["sys/id"].fetch())
    run.stop()
    assert naiad.init_run(with_id=run_id, mode="read-only")["sys/state"].fetch() == "finished"
    warned = [w for w in recwarn.list if issubclass(w.category, StepOrderWarning)]
    assert len({str(w.message) for w in warned}) == 1  # one warning for the series, not one per point
