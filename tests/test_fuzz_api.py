"""Fuzzing the HTTP API against the document it serves (issue 19, "prove the promises"): schemathesis
runs every operation of ``/api/v1/openapi.json`` — examples, boundary values, random and schema-breaking
requests, then sequences of calls — against a real server, and fails on:

- any 5xx answer (``not_a_server_error``), or a server that stops answering;
- an answer whose status the document does not list for the route, or whose body, content type or
  headers do not match it (``status_code_conformance``, ``response_schema_conformance``, …);
- a request that breaks the document and is accepted anyway (``negative_data_rejection``: strict types,
  no unknown fields, the stated lengths and patterns);
- a route that works without its token (``ignored_auth``), a 405 without a true ``Allow`` header.

One check is left out, ``positive_data_acceptance``: some rules join several fields and a JSON Schema
cannot state them (exactly one of ``uuid`` and ``short_id``; an ``assign`` edit needs a type and a value;
a webhook must point at a public address), so a request the document allows may rightly get a 400.

Batches (a binary body) are drawn by ``fuzz_hooks``: random bytes, real batches of random operations
and damaged ones.  Two runs: on PostgreSQL as an admin (the widest reach, and the database that
refused NUL with a 500) and on SQLite as a contributor.  ``NAIAD_FUZZ_SECONDS`` (default 60 per run)
and ``NAIAD_FUZZ_SEED`` set the budget and the seed; the failing requests are printed as ``curl``
lines to replay.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store.base import RUN
from services import team_server

pytestmark = [pytest.mark.trust, pytest.mark.slow]

PROJECT = "fuzz"
SECONDS = int(os.environ.get("NAIAD_FUZZ_SECONDS", "60"))
SEED = os.environ.get("NAIAD_FUZZ_SEED", "19190")


@pytest.mark.parametrize(("backend", "caller"), [("postgres", "admin"), ("sqlite", "carl")])
def test_fuzzing_the_api_finds_no_server_error_and_no_broken_promise(backend: str, caller: str,
                                                                      tmp_path: Path) -> None:
    grants = [("carl", PROJECT, "contributor"), ("vera", PROJECT, "viewer")]
    with team_server(tmp_path / "store", grants, postgres=backend == "postgres") as server:
        store = server.store
        # two runs the fuzzer is told of (it writes into them), and one in a project the caller has no
        # role in (an admin may reach it: then it only has to read back whole)
        runs = [store.create_container(project, RUN, uuid.uuid4().hex) for project in (PROJECT, PROJECT, "sealed")]
        steps = np.arange(50.0)
        for run in runs:
            store.apply(Batch(run.uuid, f"fuzz-setup-{run.uuid}", 1, [
                (O.ASSIGN, "params/lr", F.FLOAT, 0.1), (O.ASSIGN, "sys/name", F.STRING, "fuzzed"),
                (O.POINTS, "train/loss", F.FLOAT_SERIES, steps, steps + 1.7e9, np.linspace(1, 0, 50))]))
        document = httpx.get(f"{server.url}/api/v1/openapi.json").json()
        operations = sum(len(methods) for methods in document["paths"].values())

        env = {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_hooks", "NAIAD_FUZZ_PROJECT": PROJECT,
               "NAIAD_FUZZ_CONTAINERS": ",".join(r.uuid for r in runs[:2]),
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
        command = [str(Path(sys.executable).parent / "st"), "run", f"{server.url}/api/v1/openapi.json",
                   "--header", f"Authorization: Bearer {server.tokens[caller]}",
                   "--max-time", str(SECONDS), "--seed", SEED, "--workers", "1", "--request-timeout", "30",
                   "--generation-allow-x00", "true", "--continue-on-failure", "--no-color",
                   "--exclude-checks", "positive_data_acceptance",
                   "--report", "junit", "--report-dir", str(tmp_path / "report")]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=SECONDS + 240)
        out = done.stdout + done.stderr
        summary = out[out.rfind("SUMMARY"):] if "SUMMARY" in out else out[-4000:]
        assert done.returncode == 0, f"schemathesis found failures (seed {SEED}):\n{out[-12000:]}"

        tested = re.search(r"Tested:\s+(\d+)", summary)
        assert tested is not None and int(tested[1]) == operations, summary
        generated = re.search(r"(\d+) generated", summary)
        assert generated is not None and int(generated[1]) >= 20 * operations, summary
        # the server still answers; every run still reads whole; the sealed one is untouched
        assert httpx.get(f"{server.url}/api/v1/health", timeout=5).status_code == 200
        for run in runs:
            for path, value in store.read_fields(run.uuid).items():
                if value.type in F.SERIES:
                    store.read_series(run.uuid, path)
        if caller == "admin":
            return
        witness = store.read_fields(runs[2].uuid)
        assert witness["params/lr"].value == 0.1 and witness["sys/name"].value == "fuzzed"
        assert store.read_series(runs[2].uuid, "train/loss").steps.tolist() == steps.tolist()
