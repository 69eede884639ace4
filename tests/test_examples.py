"""The CI examples stay in step with the CLI: their gate spec parses, and every option they pass to
`naiad gate` exists."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from naiad.cli.gate import gate
from naiad.gate.spec import load_spec, parse_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "ci"


def test_the_example_gate_spec_is_valid() -> None:
    spec, text = load_spec(EXAMPLES / "gate.yaml")
    rules, min_rows = parse_spec(spec)
    assert min_rows == 200
    assert [(r.metric, r.kind) for r in rules] == [("accuracy", "value"), ("log_loss", "change"),
                                                   ("accuracy", "test"), ("roc_auc", "test")]
    assert "non-inferiority" in text


def test_the_ci_files_use_only_options_naiad_gate_has() -> None:
    known = {opt for param in gate.params for opt in getattr(param, "opts", [])}
    for name in ("github-actions.yml", "gitlab-ci.yml"):
        text = (EXAMPLES / name).read_text()
        yaml.safe_load(text)  # valid YAML
        command = text[text.index("naiad gate"):]
        command = command[:command.index("gate.json") + len("gate.json")]
        used = set(re.findall(r"(--[a-z][a-z-]*)", command))
        assert used, name
        assert used <= known, f"{name} passes options naiad gate lacks: {sorted(used - known)}"


def test_the_pipeline_monitors_retrains_gates_and_promotes_on_real_weather(tmp_path: Path) -> None:
    """Four months of examples/pipeline at its real scale (Seattle's weather, April to July 2012): the spring
    model degrades as the dry season comes, is retrained and gated each time, and the gate decides."""
    import importlib.util
    import io

    import naiad

    path = EXAMPLES.parent / "pipeline" / "pipeline.py"
    spec = importlib.util.spec_from_file_location("naiad_example_pipeline", path)
    assert spec is not None and spec.loader is not None
    pipeline = importlib.util.module_from_spec(spec)
    sys.modules["naiad_example_pipeline"] = pipeline  # its dataclasses look their module up
    try:
        spec.loader.exec_module(pipeline)
    finally:
        sys.modules.pop("naiad_example_pipeline", None)
    out = io.StringIO()
    report = pipeline.run_pipeline("weather", "2012-04", 4, tmp_path / "work", out=out)
    assert report.model == "WEA-RAIN"
    assert [(m.month, m.production, m.status, m.action) for m in report.months] == [
        ("2012-04", "WEA-RAIN-1", "ok", ""),
        ("2012-05", "WEA-RAIN-1", "degraded", "retrained WEA-RAIN-2, gate pass"),
        ("2012-06", "WEA-RAIN-2", "degraded", "retrained WEA-RAIN-3, gate fail"),
        ("2012-07", "WEA-RAIN-2", "degraded", "retrained WEA-RAIN-4, gate pass"),
    ]
    assert [m.rows for m in report.months] == [30, 31, 30, 31]  # the days of each month with a next day
    assert "WEA-RAIN in production now: WEA-RAIN-4" in out.getvalue()
    # everything is in the store: the stage history names the gate decisions, the timeline the evaluations
    model = naiad.init_model(with_id="WEA-RAIN", mode="read-only")
    assert model.version(stage="production") == "WEA-RAIN-4"
    history = model.fetch_stage_history()
    promotions = history[(history["kind"] == "stage") & (history["to"] == "production")]
    assert list(promotions["version"]) == ["WEA-RAIN-1", "WEA-RAIN-2", "WEA-RAIN-4"]
    assert [r.startswith("gate ") for r in promotions["reason"]] == [False, True, True]
    model.stop()
    decisions = naiad.fetch_gate_decisions("WEA-RAIN")
    assert list(zip(decisions["candidate"], decisions["baseline"], decisions["verdict"], strict=True)) == [
        ("WEA-RAIN-2", "WEA-RAIN-1", "pass"), ("WEA-RAIN-3", "WEA-RAIN-2", "fail"),
        ("WEA-RAIN-4", "WEA-RAIN-2", "pass")]
    timeline = naiad.fetch_evaluations("WEA-RAIN")
    # a monitoring evaluation per month, and each candidate's own on its gate month (the baseline's is reused)
    assert sorted(zip(timeline["version"], timeline["dataset_role"], strict=True)) == sorted([
        ("WEA-RAIN-1", "production-2012-04"), ("WEA-RAIN-1", "production-2012-05"),
        ("WEA-RAIN-2", "production-2012-05"), ("WEA-RAIN-2", "production-2012-06"),
        ("WEA-RAIN-3", "production-2012-06"), ("WEA-RAIN-2", "production-2012-07"),
        ("WEA-RAIN-4", "production-2012-07")])
    # the last evaluation is WEA-RAIN-4's own, made by its gate while WEA-RAIN-2 was still in production
    assert list(timeline["production_then"].iloc[[0, -1]]) == ["WEA-RAIN-1", "WEA-RAIN-2"]
    # monitoring evaluations measure drift against the version's training profile (a gate's do not)
    monitored = timeline[timeline["drift"].notna()]
    assert len(monitored) == 4 and set(monitored["drift"]) <= {"drift", "no drift", "not enough data"}
