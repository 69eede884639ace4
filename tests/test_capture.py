"""Automatic capture: stdout/stderr, hardware, git state and environment, through real runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import naiad
from naiad.tracking.capture.hardware import GpuReader, HardwareMonitor


def _lines(run: naiad.Run, path: str) -> list[str]:
    return [str(v) for v in run[path].fetch_values()["value"]]


def test_stdout_is_stored_line_by_line_and_still_printed(capsys: pytest.CaptureFixture[str]) -> None:
    run = naiad.init_run(project="cap", capture_stdout=True, capture_stderr=True,
                         capture_hardware_metrics=False)
    ns = run.monitoring_namespace
    print("epoch 1 loss 0.5")
    print("epoch 2", "loss 0.4")
    sys.stdout.write("partial ")
    sys.stdout.write("line\n")
    print("warning!", file=sys.stderr)
    run.wait()
    assert _lines(run, f"{ns}/stdout") == ["epoch 1 loss 0.5", "epoch 2 loss 0.4", "partial line"]
    assert _lines(run, f"{ns}/stderr") == ["warning!"]
    out = capsys.readouterr()
    assert "epoch 1 loss 0.5\n" in out.out and "partial line\n" in out.out and "warning!" in out.err
    run.stop()


def test_a_progress_bar_redrawn_with_carriage_returns_is_stored_once_in_its_final_state() -> None:
    run = naiad.init_run(project="cap", capture_stdout=True, capture_stderr=False,
                         capture_hardware_metrics=False)
    for i in range(1, 101):
        sys.stdout.write(f"\rtraining {i:3d}%")
    sys.stdout.write("\n")
    run.stop()
    old = naiad.init_run(with_id=_only_run_id(), mode="read-only")
    assert _lines(old, f"{run.monitoring_namespace}/stdout") == ["training 100%"]


def _only_run_id() -> str:
    ids = naiad.init_project(project="cap", mode="read-only").fetch_runs_table().to_pandas()["sys/id"]
    return str(ids.iloc[0])


def test_stop_puts_the_streams_back_and_keeps_an_unterminated_last_line() -> None:
    before_out, before_err = sys.stdout, sys.stderr
    run = naiad.init_run(project="cap", capture_stdout=True, capture_stderr=True,
                         capture_hardware_metrics=False)
    assert sys.stdout is not before_out
    sys.stdout.write("no newline at the end")
    run.stop()
    assert sys.stdout is before_out and sys.stderr is before_err
    old = naiad.init_run(with_id=_only_run_id(), mode="read-only")
    assert _lines(old, f"{run.monitoring_namespace}/stdout") == ["no newline at the end"]


def test_capture_is_off_when_the_setting_says_so_and_on_by_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    run = naiad.init_run(project="cap")  # conftest sets NAIAD_AUTO_CAPTURE=0
    print("not captured")
    run.wait()
    assert not run.exists(f"{run.monitoring_namespace}/stdout")
    assert not run.exists("environment")
    run.stop()
    monkeypatch.setenv("NAIAD_AUTO_CAPTURE", "1")
    run2 = naiad.init_run(project="cap", capture_hardware_metrics=False, capture_stderr=False)
    print("captured")
    run2.wait()
    assert _lines(run2, f"{run2.monitoring_namespace}/stdout") == ["captured"]
    assert run2["environment/python"].fetch() == ".".join(map(str, sys.version_info[:3]))
    run2.stop()


def test_hardware_samples_cpu_memory_and_io_series(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_HARDWARE_PERIOD", "0.05")
    run = naiad.init_run(project="cap", capture_stdout=False, capture_stderr=False,
                         capture_hardware_metrics=True)
    ns = run.monitoring_namespace
    deadline = __import__("time").monotonic() + 10
    while __import__("time").monotonic() < deadline:
        run.wait()
        if run.exists(f"{ns}/disk_read") and len(run[f"{ns}/cpu"].fetch_values()) >= 3:
            break
    cpu = run[f"{ns}/cpu"].fetch_values()["value"]
    assert len(cpu) >= 3 and ((cpu >= 0) & (cpu <= 100)).all()
    assert run[f"{ns}/memory"].fetch_last() > 0
    assert 0 < run[f"{ns}/process_memory"].fetch_last() < run[f"{ns}/memory"].fetch_last() + 1
    for name in ("disk_read", "disk_write", "network_sent", "network_received"):
        assert run[f"{ns}/{name}"].fetch_last() >= 0
    run.stop()


def test_without_a_gpu_the_monitor_says_so_once_and_records_the_rest(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    gpus = GpuReader()
    if gpus.available:  # a GPU machine: the GPU series are checked by the device script instead
        pytest.skip("this machine has a GPU")
    monkeypatch.setenv("NAIAD_HARDWARE_PERIOD", "0.05")
    run = naiad.init_run(project="cap", capture_stdout=False, capture_stderr=False,
                         capture_hardware_metrics=True)
    run.wait()
    run.stop()
    err = capsys.readouterr().err
    assert err.count("GPU monitoring off") == 1, err
    assert not any(p.startswith(f"{run.monitoring_namespace}/gpu") for p in run._types)


def test_a_sample_reads_the_machine_directly() -> None:
    class Sink:
        def __getitem__(self, path: str) -> None:
            raise AssertionError("sample() must not write")

    monitor = HardwareMonitor(Sink(), "monitoring/x", 10.0)
    first = monitor.sample()
    second = monitor.sample()
    assert {"cpu", "memory", "process_memory"} <= set(first)
    assert {"disk_read", "disk_write", "network_sent", "network_received"} <= set(second)
    monitor.gpus.close()


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "Ana", "GIT_AUTHOR_EMAIL": "ana@example.com",
                        "GIT_COMMITTER_NAME": "Ana", "GIT_COMMITTER_EMAIL": "ana@example.com",
                        "HOME": str(repo), "PATH": "/usr/bin:/bin:/usr/local/bin"})


def test_git_state_and_uncommitted_diff_are_recorded(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print('v1')\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first model")
    _git(repo, "remote", "add", "origin", "https://example.com/team/models.git")
    (repo / "train.py").write_text("print('v2')\n")  # uncommitted
    script = repo / "train.py"
    script.write_text(textwrap.dedent("""
        import naiad
        run = naiad.init_run(project="cap", capture_hardware_metrics=False)
        print(run["sys/id"].fetch())
        run.stop()
    """))
    env = {**__import__("os").environ, "NAIAD_AUTO_CAPTURE": "1"}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run = naiad.init_run(with_id=proc.stdout.split()[-1], mode="read-only")
    git = run["source_code/git"].fetch()
    assert git["branch"] == "main" and git["dirty"] is True
    assert git["message"] == "first model" and git["author_name"] == "Ana"
    assert len(git["commit_id"]) == 40
    assert git["remotes"] == {"https://example.com/team/models.git"}
    run["source_code/diff"].download(str(tmp_path / "diff.patch"))
    assert "+import naiad" in (tmp_path / "diff.patch").read_text()
    assert run["environment/command_line"].fetch().endswith("train.py")
    assert run["source_code/entrypoint"].fetch() == "train.py"


def test_git_ref_disabled_records_no_git_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_AUTO_CAPTURE", "1")
    _git(tmp_path, "init", "-q")
    run = naiad.init_run(project="cap", git_ref=naiad.types.GitRef.DISABLED, capture_stdout=False,
                         capture_stderr=False, capture_hardware_metrics=False)
    run.wait()
    assert not run.exists("source_code/git")
    run.stop()


def test_environment_capture_stores_the_installed_packages(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setenv("NAIAD_AUTO_CAPTURE", "1")
    run = naiad.init_run(project="cap", capture_stdout=False, capture_stderr=False,
                         capture_hardware_metrics=False)
    run["source_code/requirements"].download(str(tmp_path / "req.txt"))
    lines = (tmp_path / "req.txt").read_text().splitlines()
    assert any(line.startswith("numpy==") for line in lines)
    assert any(line.lower().startswith("naiad==") for line in lines)
    run.stop()


def test_the_installed_packages_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A sweep of runs in one process reads the distributions' metadata once, not once a run (issue 21:
    ~100 ms a run in a full environment), off the calling thread; every run still records them."""
    import importlib.metadata

    from naiad.tracking.capture import once

    monkeypatch.setenv("NAIAD_AUTO_CAPTURE", "1")
    once.forget()
    walks = []
    real = importlib.metadata.distributions
    monkeypatch.setattr(importlib.metadata, "distributions", lambda *a, **k: walks.append(1) or real(*a, **k))
    ids = []
    for _ in range(3):
        run = naiad.init_run(project="cap", capture_stdout=False, capture_stderr=False,
                             capture_hardware_metrics=False)
        ids.append(run["sys/id"].fetch())
        run.stop()
    texts = []
    for i, short_id in enumerate(ids):
        run = naiad.init_run(project="cap", with_id=short_id, mode="read-only")
        run["source_code/requirements"].download(str(tmp_path / f"req{i}.txt"))
        texts.append((tmp_path / f"req{i}.txt").read_text())
        run.stop()
    assert len(walks) == 1 and texts[0] == texts[1] == texts[2] and "numpy==" in texts[0]


def test_a_capture_still_being_worked_out_is_written_before_stop_returns(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The git state is read off the calling thread: init_run does not wait for git, and stop() waits
    for what is still being read, so the run has it."""
    import subprocess

    from naiad.tracking.capture import once, source

    repo = tmp_path / "repo"
    repo.mkdir()
    for cmd in (["init", "-q", "-b", "main"], ["config", "user.email", "a@b.c"], ["config", "user.name", "A"]):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True)
    (repo / "train.py").write_text("print(1)\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "first"], check=True)
    once.forget()
    release = __import__("threading").Event()
    real = source.git_info

    def slow(start: str) -> object:
        release.wait(10)  # git answers only once the run has started and gone on
        return real(start)

    monkeypatch.setattr(source, "git_info", slow)
    run = naiad.init_run(project="cap", git_ref=naiad.types.GitRef(repository_path=str(repo)),
                         capture_stdout=False, capture_stderr=False, capture_hardware_metrics=False)
    run["x"] = 1
    assert not run.exists("source_code/git")  # init_run returned before git did
    short_id = run["sys/id"].fetch()
    release.set()
    run.stop()
    run = naiad.init_run(project="cap", with_id=short_id, mode="read-only")
    assert run["source_code/git/message"].fetch() == "first" and run["source_code/git/dirty"].fetch() is False
    run.stop()


def test_notebook_checkpoints_are_a_file_series_of_the_saved_notebook(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    notebook = tmp_path / "analysis.ipynb"
    notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))  # what Jupyter sets for a kernel
    run = naiad.init_run(project="cap")
    assert run.checkpoint_notebook() is True
    notebook.write_text('{"cells": [{"cell_type": "code", "source": "1+1"}], "metadata": {}, "nbformat": 4, '
                        '"nbformat_minor": 5}')
    assert run.checkpoint_notebook() is True
    run["source_code/notebook_checkpoints"].download(str(tmp_path / "checkpoints"))
    saved = sorted((tmp_path / "checkpoints").iterdir())
    assert [p.name for p in saved] == ["0.ipynb", "1.ipynb"]
    assert "1+1" in saved[1].read_text() and "1+1" not in saved[0].read_text()
    assert run["source_code/notebook_path"].fetch() == str(notebook)
    monkeypatch.delenv("JPY_SESSION_NAME")
    with pytest.warns(naiad.core.fields.NaiadWarning, match="no notebook found"):
        assert run.checkpoint_notebook() is False
    run.stop()


def test_each_process_writing_one_run_gets_its_own_monitoring_namespace(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import os, time, naiad
        run = naiad.init_run(project="cap", custom_run_id="shared-run", capture_stdout=True,
                             capture_stderr=False, capture_hardware_metrics=True)
        print("hello from", os.getpid())
        time.sleep(0.5)
        run.stop()
    """)
    env = {**__import__("os").environ, "NAIAD_AUTO_CAPTURE": "1", "NAIAD_HARDWARE_PERIOD": "0.1"}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    pids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        pids.append(out.split()[-1])
    run = naiad.init_run(with_id=_only_run_id(), mode="read-only")
    monitoring = run.get_structure()["monitoring"]
    assert len(monitoring) == 2
    assert sorted(ns["pid"].fetch() for ns in monitoring.values()) == sorted(pids)
    for ns in monitoring.values():
        assert ns["stdout"].fetch_last().startswith("hello from")
        assert len(ns["cpu"].fetch_values()) >= 1
