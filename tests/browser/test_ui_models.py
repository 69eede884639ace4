"""The model pages in a real browser: versions and stages, history at a time, the monitoring timeline
with drift drill-down, and gate decisions — over a registry built with the real SDK."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from naiad.store.sqlite import SqliteStore
from registry_kit import controlled, shop_registry, writing_to
from services import serve_in_thread

MODEL = "SHO-CLS"


def month(n: int, right: float, seed: int, shift: float = 0.0) -> pd.DataFrame:
    frame = controlled(n, right, seed)
    frame["x"] = frame["x"] + shift
    frame["y2"] = np.random.default_rng(seed + 100).normal(size=n)
    return frame


@pytest.fixture(scope="module")
def registry_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    from naiad.server.app import create_app

    folder = tmp_path_factory.mktemp("models") / ".naiad"
    with writing_to(folder):
        made = shop_registry(month)
    store = SqliteStore(folder)
    with serve_in_thread(create_app(store, anonymous_role="owner")) as url:
        yield url, made
    store.close()


def test_models_page_lists_models_with_their_production_version(page: Any, registry_site: tuple[str, Any]) -> None:
    url, made = registry_site
    page.goto(url + "/p/shop/models")
    row = page.get_by_role("table", name="models").locator(f'tr[data-model="{MODEL}"]')
    expect(row).to_contain_text("classifier")
    expect(row.locator("td").nth(2)).to_have_text("2")
    expect(row.locator("td").nth(3)).to_have_text(made["v2"])  # the gate promoted v2
    row.get_by_role("link", name=MODEL, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/p/shop/models/{MODEL}$"))
    versions = page.get_by_role("table", name="versions")
    expect(versions.locator(f'tr[data-version="{made["v2"]}"] .badge')).to_have_text("production")
    expect(versions.locator(f'tr[data-version="{made["v1"]}"] .badge')).to_have_text("archived")
    expect(versions.locator(f'tr[data-version="{made["v2"]}"]')).to_contain_text("pass")


def test_history_replays_who_was_in_production_at_a_time(page: Any, registry_site: tuple[str, Any]) -> None:
    url, made = registry_site
    page.goto(url + f"/p/shop/models/{MODEL}?tab=history")
    history = page.get_by_role("table", name="history")
    expect(history.locator("tr", has_text=f"{made['v2']}: none → production")).to_have_count(1)
    expect(history.locator("tr", has_text=f"{made['v1']}: production → archived")).to_have_count(1)
    events = page.evaluate(f"fetch('/api/v1/registry/events?project=shop&model={MODEL}').then(r => r.json())")
    promoted_v1 = next(e["at"] for e in events if e["version"] == made["v1"] and e["after"] == "production")
    promoted_v2 = next(e["at"] for e in events if e["version"] == made["v2"] and e["after"] == "production")
    # the input takes milliseconds (two promotions by CI gates can fall within one second): the midpoint
    assert promoted_v2 - promoted_v1 >= 0.002, (promoted_v1, promoted_v2)
    moment = (promoted_v1 + promoted_v2) / 2
    between = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(moment)) + f".{int(moment * 1000) % 1000:03d}"
    page.get_by_label("production at").fill(between)
    expect(page.get_by_label("production then")).to_have_text(made["v1"])


def test_monitoring_shows_the_timeline_with_the_degraded_evaluation(page: Any, registry_site: tuple[str, Any]) -> None:
    url, made = registry_site
    page.goto(url + f"/p/shop/models/{MODEL}?tab=monitoring")
    chart = page.get_by_label("timeline", exact=True)
    # two monthly evaluations of v1, and the gate's two on its holdout (v1 and v2): evaluations too
    expect(chart).to_have_attribute("data-points", "4")
    expect(chart).to_have_attribute("data-degraded", "1")
    table = page.get_by_role("table", name="evaluations")
    expect(table.locator("tbody tr", has_text="holdout")).to_have_count(2)
    # evaluations made within a day are drawn one after the other; the axis can be switched to time
    expect(chart).to_have_attribute("data-x", "sequence")
    page.get_by_label("timeline axis").select_option("time")
    expect(chart).to_have_attribute("data-x", "time")
    assert "x=time" in page.url
    expect(table.locator(f'tr[data-run="{made["second"]}"]')).to_contain_text("degraded")
    expect(table.locator(f'tr[data-run="{made["first"]}"]')).to_contain_text("ok")
    expect(table.locator(f'tr[data-run="{made["first"]}"]')).to_contain_text("2026-09")


def test_monitoring_can_show_only_what_the_production_version_scored(page: Any, registry_site: tuple[str, Any]) -> None:
    # the gate also evaluated its candidate v2 while v1 was in production: hidden on request, and the
    # choice is in the URL
    url, made = registry_site
    page.goto(url + f"/p/shop/models/{MODEL}?tab=monitoring")
    chart = page.get_by_label("timeline", exact=True)
    expect(chart).to_have_attribute("data-points", "4")
    page.get_by_label("evaluations shown").select_option("production")
    expect(chart).to_have_attribute("data-points", "3")
    table = page.get_by_role("table", name="evaluations")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr", has_text=made["v2"])).to_have_count(0)
    expect(table.locator("tbody tr", has_text="holdout")).to_have_count(1)
    assert "evals=production" in page.url
    page.reload()
    expect(chart).to_have_attribute("data-points", "3")
    page.get_by_label("evaluations shown").select_option("all")
    expect(chart).to_have_attribute("data-points", "4")


def test_drift_heatmap_flags_the_shifted_column_and_drills_down_to_histograms(
        page: Any, registry_site: tuple[str, Any]) -> None:
    url, made = registry_site
    page.goto(url + f"/p/shop/models/{MODEL}?tab=monitoring")
    heat = page.get_by_role("table", name="drift heat-map")
    shifted = heat.locator(f'td[data-run="{made["second"]}"][data-column="x"]')
    expect(shifted).to_have_class(re.compile("drifted"))
    expect(heat.locator(f'td[data-run="{made["first"]}"][data-column="x"]')).not_to_have_class(re.compile("drifted"))
    expect(heat.locator(f'td[data-run="{made["second"]}"][data-column="y2"]')).not_to_have_class(re.compile("drifted"))
    shifted.click()
    hist = page.get_by_label("histograms", exact=True)
    expect(hist).to_contain_text("x")
    bins = int(hist.get_attribute("data-bins") or 0)
    assert 10 <= bins <= 22
    shares = page.evaluate(f"fetch('/api/v1/models/histogram?run={made['second']}&column=x').then(r => r.json())")
    assert abs(sum(shares["reference"]) - 1) < 0.02 and abs(sum(shares["current"]) - 1) < 0.02
    # shifted by 1.5σ: most of the current data sits in the reference's top bins
    assert sum(shares["current"][-5:]) > 0.5 > sum(shares["reference"][-5:])


def test_gate_decisions_show_on_the_model_and_on_the_version_page(page: Any, registry_site: tuple[str, Any]) -> None:
    url, made = registry_site
    page.goto(url + f"/p/shop/models/{MODEL}?tab=gate")
    decisions = page.get_by_role("table", name="gate decisions")
    expect(decisions.locator("tbody tr")).to_have_count(1)
    expect(decisions.locator("tbody tr")).to_contain_text("pass")
    expect(decisions.locator("tbody tr")).to_contain_text(made["v2"])
    page.goto(url + f"/p/shop/runs/{made['v2']}")
    registry = page.get_by_label("registry")
    expect(registry).to_contain_text("production")
    expect(registry.get_by_role("link", name=MODEL)).to_be_visible()
    expect(page.get_by_role("table", name="gate decisions").locator("tbody tr")).to_contain_text("pass")
    page.goto(url + f"/p/shop/runs/{made['v1']}")  # the baseline's page shows the decision too
    expect(page.get_by_label("registry")).to_contain_text("archived")
    row = page.get_by_role("table", name="gate decisions").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(3)).to_have_text(made["v1"])  # as the baseline


def test_a_project_without_models_says_how_to_register_one(page: Any, registry_site: tuple[str, Any]) -> None:
    url, _ = registry_site
    page.goto(url + "/p/nothing-here/models")
    expect(page.get_by_role("alert")).to_contain_text("nothing-here")


def test_a_gate_report_link_without_the_project_opens_the_version_page(page: Any,
                                                                       registry_site: tuple[str, Any]) -> None:
    url, made = registry_site
    page.goto(url + f"/models/{MODEL}/versions/{made['v2']}")  # the form naiad gate's Markdown links take
    expect(page).to_have_url(re.compile(rf"/p/shop/runs/{made['v2']}$"))
    expect(page.get_by_label("registry")).to_contain_text("production")
