"""Hardware monitoring: CPU, memory, disk and network I/O through psutil, GPUs through NVML.

A background thread samples every ``NAIAD_HARDWARE_PERIOD`` seconds (10 by default) and appends
to float series under the run's monitoring namespace, never on the training thread (a full NVML
sample costs milliseconds).  Names follow neptune's: ``cpu`` (%), ``memory`` (GB used), and for
one GPU ``gpu`` (%), ``gpu_memory`` (GB), ``gpu_power`` (W), ``gpu_temperature`` (°C); with several
GPUs each name gets the card's index: ``gpu_0``, ``gpu_memory_1``…  Without a GPU or driver it
records the rest and says so once.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

_GB = 1024**3
_MB = 1024**2


def _visible_indices(count: int) -> list[int]:
    """GPU indices to watch: all, or those CUDA_VISIBLE_DEVICES lists by index."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")  # the CUDA convention, not a naiad setting
    if visible is None or not visible.strip():
        return list(range(count))
    out = []
    for item in visible.split(","):
        item = item.strip()
        if item.isdigit() and int(item) < count:
            out.append(int(item))
    return out if out or visible.strip() == "-1" else list(range(count))


class GpuReader:
    """Per-GPU readings through NVML; ``available`` is False (with ``reason``) without a driver."""

    def __init__(self) -> None:
        self.available = False
        self.reason = ""
        self.handles: list[tuple[int, Any]] = []
        try:
            import pynvml
        except ImportError:
            self.reason = "nvidia-ml-py is not installed"
            return
        self._nvml = pynvml
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
        except Exception as exc:  # no driver, no device, a container without /dev/nvidia*
            self.reason = f"NVML is not available ({exc})"
            return
        self.handles = [(i, pynvml.nvmlDeviceGetHandleByIndex(i)) for i in _visible_indices(count)]
        if not self.handles:
            self.reason = "no visible GPU"
            return
        self.available = True

    def names(self) -> list[str]:
        out = []
        for _i, handle in self.handles:
            name = self._nvml.nvmlDeviceGetName(handle)
            out.append(name.decode() if isinstance(name, bytes) else str(name))
        return out

    def read(self) -> dict[str, float]:
        nv = self._nvml
        single = len(self.handles) == 1
        out: dict[str, float] = {}
        for i, handle in self.handles:
            suffix = "" if single else f"_{i}"
            for name, fn in (
                ("gpu", lambda h: float(nv.nvmlDeviceGetUtilizationRates(h).gpu)),
                ("gpu_memory", lambda h: nv.nvmlDeviceGetMemoryInfo(h).used / _GB),
                ("gpu_power", lambda h: nv.nvmlDeviceGetPowerUsage(h) / 1000.0),
                ("gpu_temperature", lambda h: float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))),
            ):
                try:
                    out[name + suffix] = fn(handle)
                except Exception:  # a query this card or driver does not answer: leave it out
                    pass
        return out

    def close(self) -> None:
        if self.available:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass


class HardwareMonitor:
    """Samples the machine on a daemon thread into ``<namespace>/…`` series of ``run``."""

    def __init__(self, run: Any, namespace: str, period: float) -> None:
        import psutil

        self.run = run
        self.namespace = namespace
        self.period = period
        self._psutil = psutil
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.gpus = GpuReader()
        self._last_io: tuple[float, Any, Any] | None = None
        psutil.cpu_percent(interval=None)  # the first call only starts the measurement
        self._thread = threading.Thread(target=self._loop, name="naiad-hardware", daemon=True)

    def start(self) -> None:
        ns = self.namespace
        if self.gpus.available:
            self.run[f"{ns}/gpu_names"] = ", ".join(self.gpus.names())
        else:
            print(f"[naiad] GPU monitoring off: {self.gpus.reason}; recording CPU, memory, disk and network.",
                  file=sys.stderr)
        self._thread.start()

    def sample(self) -> dict[str, float]:
        ps = self._psutil
        mem = ps.virtual_memory()
        out = {
            "cpu": ps.cpu_percent(interval=None),
            "memory": (mem.total - mem.available) / _GB,
            "process_memory": self._process.memory_info().rss / _GB,
        }
        now = time.monotonic()
        disk = ps.disk_io_counters()
        net = ps.net_io_counters()
        if self._last_io is not None and disk is not None and net is not None:
            then, disk0, net0 = self._last_io
            dt = max(now - then, 1e-6)
            out["disk_read"] = (disk.read_bytes - disk0.read_bytes) / _MB / dt
            out["disk_write"] = (disk.write_bytes - disk0.write_bytes) / _MB / dt
            out["network_sent"] = (net.bytes_sent - net0.bytes_sent) / _MB / dt
            out["network_received"] = (net.bytes_recv - net0.bytes_recv) / _MB / dt
        self._last_io = (now, disk, net)
        if self.gpus.available:
            out.update(self.gpus.read())
        return out

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                values = self.sample()
                stamp = time.time()
                for name, value in values.items():
                    self.run[f"{self.namespace}/{name}"].append(float(value), timestamp=stamp)
            except Exception as exc:  # never let monitoring disturb the run
                if not self._stop.is_set():
                    print(f"[naiad] hardware monitoring stopped: {exc}", file=sys.stderr)
                return
            self._stop.wait(self.period)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self.gpus.close()
