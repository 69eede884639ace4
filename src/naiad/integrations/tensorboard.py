"""Mirror TensorBoard writes into a run while they still go to TensorBoard.

>>> with enable_tensorboard_logging_ctx(run):
...     writer = SummaryWriter()          # torch.utils.tensorboard (and tensorboardX if installed)
...     writer.add_scalar("loss", 0.3, step)

``tf.summary.scalar/text/image/histogram`` are mirrored too when TensorFlow was imported before
mirroring was enabled (naiad does not import TensorFlow itself: it takes seconds).

or ``enable_tensorboard_logging(run)`` for the rest of the process (``.disable()`` undoes it).  The
fields use the layout of ``naiad import tensorboard``, so imported and mirrored runs compare:
``<base>/scalar/<tag>``, ``<base>/image/<tag>``, ``<base>/text/<tag>``, ``<base>/histogram/<tag>``,
``<base>/hparams/<name>``.  A mirroring problem never stops the original write.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from naiad.integrations.guard import Guard
from naiad.tracking.files import File

_WRITER_CLASSES = (("torch.utils.tensorboard", "SummaryWriter"), ("tensorboardX", "SummaryWriter"))


def _number(value: Any) -> float | None:
    try:
        out = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


class TensorBoardMirror:
    """The patch on SummaryWriter classes; ``disable()`` restores their methods."""

    def __init__(self, run: Any, base_namespace: str) -> None:
        self.root = run[base_namespace.strip("/")] if base_namespace.strip("/") else run
        self._last: dict[str, float] = {}
        self._patched: list[tuple[Any, str, Any]] = []
        self._safely = Guard("TensorBoard mirroring", "TensorBoard still gets it")

    def _append(self, path: str, value: Any, step: Any) -> None:
        last = self._last.get(path, -1.0)
        point = float(step) if step is not None else last + 1.0
        if point <= last:
            return  # the same tag written twice at one step: TensorBoard keeps both, a series one
        self._last[path] = point
        self.root[path].append(value, step=point)

    # the mirrored calls: same signatures as SummaryWriter's
    def scalar(self, tag: str, value: Any, global_step: Any = None, *a: Any, **k: Any) -> None:
        number = _number(value)
        if number is not None:
            self._append(f"scalar/{tag}", number, global_step)

    def scalars(self, main_tag: str, values: dict[str, Any], global_step: Any = None, *a: Any, **k: Any) -> None:
        for name, value in values.items():
            self.scalar(f"{main_tag}/{name}", value, global_step)

    def text(self, tag: str, text: str, global_step: Any = None, *a: Any, **k: Any) -> None:
        self._append(f"text/{tag}", str(text), global_step)

    def image(self, tag: str, img: Any, global_step: Any = None, *a: Any, dataformats: str = "CHW",
              **k: Any) -> None:
        array = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
        if array.ndim == 3 and dataformats.upper() == "CHW":
            array = np.transpose(array, (1, 2, 0))
        self._append(f"image/{tag}", File.as_image(array), global_step)

    def figure(self, tag: str, figure: Any, global_step: Any = None, *a: Any, **k: Any) -> None:
        self._append(f"image/{tag}", File.as_image(figure), global_step)

    def histogram(self, tag: str, values: Any, global_step: Any = None, *a: Any, **k: Any) -> None:
        array = values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values, dtype=float)
        array = np.asarray(array, dtype=float).ravel()
        counts, limits = np.histogram(array, bins=min(30, max(1, array.size)))
        self._append(f"histogram/{tag}", json.dumps({
            "min": float(array.min()), "max": float(array.max()), "num": int(array.size),
            "sum": float(array.sum()), "sum_squares": float(np.dot(array, array)),
            "limits": limits[1:].tolist(), "counts": counts.astype(float).tolist()}, separators=(",", ":")),
            global_step)

    def hparams(self, hparam_dict: dict[str, Any], metric_dict: dict[str, Any], *a: Any, **k: Any) -> None:
        self.root["hparams"] = {str(n): v if isinstance(v, (bool, int, float, str)) else str(v)
                                for n, v in hparam_dict.items()}
        for name, value in metric_dict.items():
            number = _number(value)
            if number is not None:
                self.root[f"hparams_metrics/{name}"] = number

    def _tf_step(self, step: Any) -> Any:
        if step is None:
            import tensorflow as tf

            step = tf.summary.experimental.get_step()
        return None if step is None else int(step)

    def tf_scalar(self, name: str, data: Any, step: Any = None, *a: Any, **k: Any) -> None:
        self.scalar(name, data.numpy() if hasattr(data, "numpy") else data, self._tf_step(step))

    def tf_text(self, name: str, data: Any, step: Any = None, *a: Any, **k: Any) -> None:
        value = data.numpy() if hasattr(data, "numpy") else data
        text = "\n".join(v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(np.asarray(value)))
        self.text(name, text, self._tf_step(step))

    def tf_image(self, name: str, data: Any, step: Any = None, *a: Any, **k: Any) -> None:
        array = np.asarray(data.numpy() if hasattr(data, "numpy") else data)
        self._append(f"image/{name}", File.as_image(array[0] if array.ndim == 4 else array), self._tf_step(step))

    def tf_histogram(self, name: str, data: Any, step: Any = None, *a: Any, **k: Any) -> None:
        self.histogram(name, np.asarray(data.numpy() if hasattr(data, "numpy") else data, dtype=float),
                       self._tf_step(step))

    def _patch(self, owner: Any, name: str, mirror: Any, bound: bool) -> None:
        original = owner.__dict__.get(name) if bound else getattr(owner, name, None)
        if original is None:
            return
        self._patched.append((owner, name, original))
        setattr(owner, name, self._wrap(original, mirror, bound))

    def enable(self) -> TensorBoardMirror:
        for module_name, class_name in _WRITER_CLASSES:
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError):
                continue
            for method, mirror in (("add_scalar", self.scalar), ("add_scalars", self.scalars),
                                   ("add_text", self.text), ("add_image", self.image),
                                   ("add_figure", self.figure), ("add_histogram", self.histogram),
                                   ("add_hparams", self.hparams)):
                self._patch(cls, method, mirror, bound=True)
        tf = sys.modules.get("tensorflow")  # patched only when TensorFlow is imported already
        if tf is not None and hasattr(tf, "summary"):
            tf_mirrors: list[tuple[str, Any]] = [("scalar", self.tf_scalar), ("text", self.tf_text),
                                                 ("image", self.tf_image), ("histogram", self.tf_histogram)]
            for fn, tf_mirror in tf_mirrors:
                self._patch(tf.summary, fn, tf_mirror, bound=False)
        if not self._patched:
            raise ImportError("no TensorBoard writer to mirror: install torch (torch.utils.tensorboard) or "
                              "tensorboardX, or import tensorflow before enabling (tf.summary)")
        return self

    def _wrap(self, original: Any, mirror: Any, bound: bool) -> Any:
        if bound:  # a SummaryWriter method: the first argument is the writer
            def method(writer: Any, *args: Any, **kwargs: Any) -> Any:
                self._safely(lambda: mirror(*args, **kwargs))
                return original(writer, *args, **kwargs)
        else:  # a tf.summary function
            def method(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                self._safely(lambda: mirror(*args, **kwargs))
                return original(*args, **kwargs)

        method.__wrapped__ = original  # type: ignore[attr-defined]
        return method

    def disable(self) -> None:
        for owner, method, original in reversed(self._patched):
            setattr(owner, method, original)
        self._patched.clear()


def enable_tensorboard_logging(run: Any, *, base_namespace: str = "tensorboard") -> TensorBoardMirror:
    """Mirror every SummaryWriter write into ``run`` from now on; returns the mirror (``.disable()``)."""
    return TensorBoardMirror(run, base_namespace).enable()


@contextlib.contextmanager
def enable_tensorboard_logging_ctx(run: Any, *, base_namespace: str = "tensorboard") -> Iterator[None]:
    """Mirror SummaryWriter writes into ``run`` inside the ``with`` block only."""
    mirror = enable_tensorboard_logging(run, base_namespace=base_namespace)
    try:
        yield
    finally:
        mirror.disable()


__all__ = ["TensorBoardMirror", "enable_tensorboard_logging", "enable_tensorboard_logging_ctx"]
