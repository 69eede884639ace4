"""The CI examples stay in step with the CLI: their gate spec parses, and every option they pass to
`naiad gate` exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from naiad.cli_gate import gate
from naiad.gate import load_spec, parse_spec

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
