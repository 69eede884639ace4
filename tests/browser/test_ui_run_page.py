"""The run page and the compare view, in a real browser."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect


def chart(page: Any, path: str) -> Any:
    return page.locator(f'.chart[data-chart="{path}"]')


def test_run_page_draws_a_chart_per_float_series_with_every_point(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs/CLS-1")
    loss = chart(page, "train/loss")
    expect(loss).to_have_attribute("data-points", "50")
    expect(loss.locator("canvas")).to_have_count(1)
    # the canvas really has a line on it: some pixels are not background
    drawn = loss.locator("canvas").evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }")
    assert drawn > 500
    expect(page.locator(".chart[data-chart]")).to_have_count(3)  # train/loss, train/acc, train/fine


def test_long_series_is_drawn_as_buckets_with_a_band_and_zoom_asks_for_finer_ones(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs/CLS-1")
    fine = chart(page, "train/fine")
    expect(fine).to_have_attribute("data-total", "20000")
    buckets = int(fine.get_attribute("data-points"))
    assert 0 < buckets <= 1000
    expect(fine).to_contain_text("min–max band")
    box = fine.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.40, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    expect(fine).to_contain_text("zoomed")
    expect(fine).not_to_have_attribute("data-total", "20000")
    zoomed_total = int(fine.get_attribute("data-total"))
    assert 0 < zoomed_total < 20000  # only the selected step range was asked for
    fine.locator(".u-over").dblclick()
    expect(fine).to_have_attribute("data-total", "20000")


def test_chart_options_live_in_the_url(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs/CLS-1")
    page.get_by_label("log scale").check()
    page.get_by_label("x axis").select_option("relative")
    page.get_by_label("smoothing").fill("0.6")
    expect(page).to_have_url(re.compile(r"log=1"))
    assert "x=relative" in page.url and "smooth=0.6" in page.url
    expect(chart(page, "train/loss")).to_have_attribute("data-points", "50")
    page.reload()
    expect(page.get_by_label("log scale")).to_be_checked()
    expect(page.get_by_label("x axis")).to_have_value("relative")


def test_logs_tab_shows_string_series_lines(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs/CLS-1?tab=logs")
    lines = page.get_by_label("log lines")
    expect(lines.locator("div")).to_have_count(30)
    expect(lines.locator("div").last).to_contain_text("epoch 29 done")


def test_files_tab_previews_an_image_a_csv_and_code(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs/CLS-1?tab=files")
    files = page.get_by_role("listbox", name="files")
    files.get_by_role("option", name="plots/sample").click()
    img = page.get_by_label("preview").locator('img[data-preview="image"]')
    expect(img).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 48", arg=img.element_handle())
    files.get_by_role("option", name="data/preview").click()
    csv = page.get_by_role("table", name="csv preview")
    expect(csv.locator("tbody tr")).to_have_count(3)
    expect(csv.locator("thead th")).to_have_text(["a", "b"])
    expect(csv.locator("tbody tr").last).to_contain_text("5")
    files.get_by_role("option", name="code/train").click()
    code = page.locator('pre[data-preview="code"]')
    expect(code).to_contain_text("return x + 1")
    expect(code.locator(".hl-k", has_text="def")).to_have_count(1)
    assert "file=code" in page.url


def test_image_series_has_a_step_slider(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs/CLS-1?tab=files")
    series = page.get_by_label("image series images/samples")
    expect(series).to_contain_text("3 of 3")
    series.get_by_label("step").fill("0")
    expect(series).to_contain_text("1 of 3")
    expect(series.locator("img")).to_have_attribute("alt", re.compile("step 0"))


def test_fields_tab_shows_the_tree_with_values(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs/CLS-3?tab=fields")
    node = page.locator('.tree .node[data-path="parameters/lr"]')
    expect(node).to_contain_text("0.001")
    expect(node).to_contain_text("Float")
    page.locator(".tree .ns", has_text="parameters").click()  # collapse
    expect(node).to_have_count(0)


def test_description_and_tags_are_editable_on_the_run_page(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs/CLS-3")
    desc = page.get_by_label("description")
    desc.fill("the smallest learning rate")
    page.get_by_label("new tag").click()  # blur saves the description
    page.get_by_label("new tag").fill("keep")
    page.get_by_label("new tag").press("Enter")
    expect(page.get_by_label("tags").locator(".tag", has_text="keep")).to_be_visible()
    uuid = httpx.get(ui_url + "/api/v1/containers/lookup", params={"short_id": "CLS-3"}).json()["uuid"]
    fields = httpx.post(ui_url + f"/api/v1/containers/{uuid}/fields",
                        json={"paths": ["sys/description", "sys/tags"]}).json()
    assert fields["sys/description"]["value"] == "the smallest learning rate"
    assert "keep" in fields["sys/tags"]["value"]
    page.get_by_role("button", name="remove tag keep").click()
    expect(page.get_by_label("tags").locator(".tag", has_text="keep")).to_have_count(0)


def test_compare_three_runs_shows_only_the_fields_that_differ(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs")
    for run_id in ("CLS-1", "CLS-2", "CLS-3"):
        page.get_by_label(f"select {run_id}").check()
    page.get_by_role("button", name="Compare 3").click()
    expect(page).to_have_url(re.compile(r"/p/cls/compare\?ids="))
    expect(page.get_by_role("heading", name="Compare 3 runs")).to_be_visible()
    page.get_by_role("tab", name="Side by side").click()
    table = page.get_by_role("table", name="side by side")
    expect(table.locator('tr[data-field="parameters/lr"]')).to_have_count(1)
    expect(table.locator('tr[data-field="parameters/optimizer"]')).to_have_count(1)
    expect(table.locator('tr[data-field="parameters/batch_size"]')).to_have_count(0)  # 32 everywhere
    page.get_by_label("differences only").uncheck()
    expect(table.locator('tr[data-field="parameters/batch_size"]')).to_have_count(1)
    assert "diff=0" in page.url


def test_compare_overlays_one_line_per_run_and_draws_parallel_coordinates(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/compare?ids=CLS-1,CLS-2,CLS-3")
    loss = chart(page, "train/loss")
    expect(loss).to_have_attribute("data-points", "150")  # 3 runs × 50 points
    expect(page.get_by_label("legend").locator("i")).to_have_count(3)
    page.get_by_role("tab", name="Parallel coordinates").click()
    svg = page.get_by_role("img", name="parallel coordinates")
    expect(svg.locator("polyline")).to_have_count(3)
    expect(svg).to_contain_text("parameters/lr")


def test_unknown_run_and_page_say_what_to_do(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs/CLS-404")
    expect(page.get_by_role("alert")).to_contain_text("CLS-404")
    page.goto(ui_url + "/nowhere/at/all")
    expect(page.get_by_text("No page at")).to_be_visible()


def test_datasets_page_shows_versions_lineage_files_and_a_diff(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/datasets")
    versions = page.get_by_role("table", name="dataset versions")
    expect(versions.locator("tbody tr")).to_have_count(2)
    older = versions.locator("tbody tr").last  # newest first: CLS-3's version is on top
    expect(older).to_contain_text("data/train")
    expect(older.locator("td").nth(4)).to_have_text("2")  # used by CLS-1 and CLS-2
    older.get_by_role("link").click()
    lineage = page.get_by_role("table", name="lineage")
    expect(lineage.locator("tbody tr")).to_have_count(2)
    expect(lineage.get_by_role("link", name="CLS-1")).to_be_visible()
    files = page.get_by_role("table", name="files")
    expect(files.locator("tbody tr")).to_have_count(2)
    versions.locator("tbody tr").first.get_by_role("button", name="diff").click()
    changes = page.get_by_role("table", name="changes")
    expect(changes.locator('tr[data-change="changed"]')).to_contain_text("train.csv")
    expect(changes.locator('tr[data-change="added"]')).to_contain_text("labels.txt")
    expect(changes.locator('tr[data-change="removed"]')).to_have_count(0)
    assert "vs=" in page.url
