"""Check GPU monitoring on a machine with an NVIDIA GPU: ``python scripts/gpu_check.py``.

With the naiad package importable it runs a real run with hardware capture on a short period and
prints the GPU series it stored; without naiad's dependencies it loads the monitor module on its own
and samples the GPUs directly.  Exit status 0 only if GPU values were read.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def with_naiad() -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "src"))
    import naiad

    os.environ["NAIAD_URI"] = tempfile.mkdtemp(prefix="naiad-gpu-")
    os.environ["NAIAD_HARDWARE_PERIOD"] = "0.5"
    run = naiad.init_run(project="gpu-check", capture_hardware_metrics=True, capture_stdout=False,
                         capture_stderr=False)
    load_gpu(3.0)
    run.wait()
    ns = run.monitoring_namespace
    out: dict[str, object] = {"mode": "naiad run", "id": run["sys/id"].fetch()}
    for path, ftype in sorted(run._types.items()):
        if path.startswith(f"{ns}/") and ftype == "FloatSeries":
            values = run[path].fetch_values()["value"]
            out[path.split("/", 2)[2]] = [len(values), round(float(values.max()), 2)]
    if run.exists(f"{ns}/gpu_names"):
        out["gpu_names"] = run[f"{ns}/gpu_names"].fetch()
    run.stop()
    return out


def standalone() -> dict[str, object]:
    spec = importlib.util.spec_from_file_location("hw", ROOT / "src/naiad/tracking/capture/hardware.py")
    assert spec and spec.loader
    hw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hw)
    gpus = hw.GpuReader()
    out: dict[str, object] = {"mode": "standalone", "available": gpus.available, "reason": gpus.reason}
    if gpus.available:
        out["names"] = gpus.names()
        t0 = time.perf_counter()
        out["sample"] = gpus.read()
        out["sample_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        gpus.close()
    return out


def load_gpu(seconds: float) -> None:
    """Some GPU work if torch is there, so utilization and power move; otherwise just wait."""
    try:
        import torch

        if torch.cuda.is_available():
            a = torch.randn(8192, 8192, device="cuda")
            end = time.time() + seconds
            while time.time() < end:
                a = (a @ a).clamp_(-1, 1)
            torch.cuda.synchronize()
            return
    except ImportError:
        pass
    time.sleep(seconds)


if __name__ == "__main__":
    try:
        result = with_naiad()
    except ImportError as exc:
        print(f"naiad not importable here ({exc}); sampling with the monitor module alone", file=sys.stderr)
        result = standalone()
    print(json.dumps(result, indent=2, default=str))
    ok = any(str(k).startswith("gpu") and k != "gpu_names" for k in result) or bool(result.get("sample"))
    sys.exit(0 if ok else 1)
