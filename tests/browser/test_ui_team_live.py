"""The UI against a team server (a token is asked for) and on a run that is still running."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

import naiad
from services import as_user, team_server


def test_team_server_asks_for_a_token_and_shows_only_the_projects_of_its_account(
        page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with team_server(tmp_path, [("ana", "vision", "contributor")]) as server:
        as_user(server, "admin", monkeypatch)
        for project in ("vision", "secret"):
            run = naiad.init_run(project=project, capture_stdout=False, capture_stderr=False,
                                 capture_hardware_metrics=False)
            run["x"] = 1
            run.stop()
        page.goto(server.url + "/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("API token").fill(server.tokens["ana"])
        page.get_by_role("button", name="Sign in").click()
        table = page.get_by_role("table", name="projects")
        expect(table.get_by_role("link", name="vision")).to_be_visible()
        expect(table.get_by_role("link", name="secret")).to_have_count(0)
        table.get_by_role("link", name="vision").click()
        expect(page.get_by_label("run count")).to_have_text("1 runs")


def test_run_page_follows_a_running_run(page: Any, ui_site: tuple[str, Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ui_url, folder = ui_site
    monkeypatch.setenv("NAIAD_URI", str(folder))
    run = naiad.init_run(project="live", capture_stdout=False, capture_stderr=False,
                         capture_hardware_metrics=False, flush_period=0.1)
    try:
        for step in range(10):
            run["loss"].append(1.0 / (step + 1))
        run.wait()
        run_id = run["sys/id"].fetch()
        page.goto(f"{ui_url}/p/live/runs/{run_id}")
        chart = page.locator('.chart[data-chart="loss"]')
        expect(chart).to_have_attribute("data-points", "10")
        expect(page.get_by_label("state")).to_have_text("running")
        for step in range(10, 25):
            run["loss"].append(1.0 / (step + 1))
        run.wait()
        started = time.monotonic()
        expect(chart).to_have_attribute("data-points", "25", timeout=15_000)  # polled every 5 s
        assert time.monotonic() - started < 15
    finally:
        run.stop()
    page.reload()
    expect(page.get_by_label("state")).to_have_text("finished")


def test_runs_table_refreshes_itself_while_live_is_on(page: Any, ui_site: tuple[str, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ui_url, folder = ui_site
    monkeypatch.setenv("NAIAD_URI", str(folder))

    def new_run() -> None:
        run = naiad.init_run(project="refresh", capture_stdout=False, capture_stderr=False,
                             capture_hardware_metrics=False)
        run["x"] = 1
        run.stop()

    new_run()
    page.clock.install()  # the table's 10 s timer runs on a clock the test moves
    page.goto(f"{ui_url}/p/refresh/runs")
    expect(page.get_by_label("run count")).to_have_text("1 runs")
    new_run()
    page.clock.fast_forward(11_000)
    expect(page.get_by_label("run count")).to_have_text("2 runs")
    page.get_by_label("live").uncheck()  # off: the table stays as it is
    new_run()
    page.clock.fast_forward(11_000)
    page.wait_for_timeout(300)
    expect(page.get_by_label("run count")).to_have_text("2 runs")
    assert "live=0" in page.url
