"""Browser tests: the built UI in a real headless Chromium (Debian's, driven by Playwright), served by
a real ``naiad`` app on loopback over a real embedded store.

The store is made once per module with the SDK (runs with parameters, series, logs, an image, a CSV);
each test gets a fresh browser context.  A page error or a failed request of the app fails the test.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import naiad
from naiad.server.ui import ui_built
from naiad.store.sqlite import SqliteStore
from registry_kit import writing_to
from services import serve_in_thread

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    found = os.environ.get("NAIAD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") \
        or shutil.which("google-chrome")
    if not found:
        pytest.fail("the browser tests need Chromium: scripts/install-test-services installs Debian's package "
                    "(or set NAIAD_CHROMIUM to a Chromium or Chrome binary)")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not ui_built():
        pytest.fail("the web UI is not built: run scripts/build-ui (the README's set-up commands do)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageErrors:
    def __init__(self) -> None:
        self.errors: list[str] = []


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own storage) that fails the test on any uncaught error in the app."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    errors = PageErrors()
    pg.on("pageerror", lambda e: errors.errors.append(f"page error: {e}"))
    # a 4xx the test provokes (an unknown run, a bad query) is logged by the browser too: only the
    # app's own errors and the server's 5xx answers count
    pg.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
          and errors.errors.append(f"console error: {m.text}"))
    pg.on("response", lambda r: r.status >= 500 and errors.errors.append(f"{r.status} from {r.url}"))
    yield pg
    context.close()
    assert not errors.errors, "\n".join(errors.errors)


def _png(color: tuple[int, int, int], size: int = 24) -> bytes:
    import numpy as np
    from PIL import Image

    img = Image.fromarray(np.full((size, size * 2, 3), color, dtype=np.uint8))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def make_runs(folder: Path) -> None:
    """Project ``cls``: three runs differing in lr and optimizer, sharing batch_size; CLS-2 failed. CLS-1
    and CLS-2 trained on one dataset version, CLS-3 on a second (a file changed, one added)."""
    data_v1, data_v2 = folder.parent / "data-v1", folder.parent / "data-v2"
    for d, rows in ((data_v1, "1,2\n"), (data_v2, "1,2\n3,4\n")):  # v2: train.csv changed, labels.txt added
        d.mkdir(parents=True)
        (d / "train.csv").write_text("a,b\n" + rows)
        (d / "README").write_text("shared\n")
    (data_v2 / "labels.txt").write_text("cat\ndog\n")
    with writing_to(folder):
        for i, (lr, opt) in enumerate([(0.1, "sgd"), (0.01, "adam"), (0.001, "adam")]):
            run = naiad.init_run(project="cls", name=f"run-{i}", tags=["base", opt], capture_stdout=False,
                                 capture_stderr=False, capture_hardware_metrics=False)
            run["parameters"] = {"lr": lr, "optimizer": opt, "batch_size": 32}
            for step in range(50):
                run["train/loss"].append(1.0 / (step + 1) + lr, step=step)
                run["train/acc"].append(step / 50 * (1 - lr), step=step)
            if i == 0:
                run["train/fine"].extend(list(range(20_000)))  # more points than a chart draws: bucketed
                for line in range(30):
                    run["logs/out"].append(f"epoch {line} done")
                run["plots/sample"].upload(naiad.types.File.from_content(_png((200, 30, 30)), extension="png"))
                run["data/preview"].upload(naiad.types.File.from_content("a,b\n1,2\n3,4\n5,6\n", extension="csv"))
                run["code/train"].upload(naiad.types.File.from_content("def f(x):\n    return x + 1\n", extension="py"))
                for k in range(3):
                    run["images/samples"].append(naiad.types.File.from_content(_png((0, 60 * k, 200)), extension="png"))
            run["val/acc"] = 0.9 - lr
            run["data/train"].track_files(str(data_v1 if i < 2 else data_v2))
            if i == 1:  # an uncaught exception inside the run marks it failed
                with pytest.raises(RuntimeError), run:
                    raise RuntimeError("diverged")
            else:
                run.stop()
        extra = naiad.init_run(project="other", capture_stdout=False, capture_stderr=False,
                               capture_hardware_metrics=False)
        extra["x"] = 1
        extra["notes/long"] = "a note far longer than any column of the runs table is wide"
        extra["notes/short"] = "ok"
        extra["sys/tags"].add(["a-rather-long-tag-name", "second-tag", "third"])
        extra.stop()


@pytest.fixture(scope="module")
def ui_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app (API + UI) over a store with the runs of :func:`make_runs`: its URL and store folder."""
    from naiad.server.app import create_app

    folder = tmp_path_factory.mktemp("ui") / ".naiad"
    make_runs(folder)
    store = SqliteStore(folder)
    with serve_in_thread(create_app(store, anonymous_role="owner")) as url:
        yield url, folder
    store.close()


@pytest.fixture(scope="module")
def ui_url(ui_site: tuple[str, Path]) -> str:
    return ui_site[0]
