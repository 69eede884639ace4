"""Projects page and runs table, in a real browser."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect


def expect_order(page: Any, ids: list[str]) -> None:
    """Wait until the table shows exactly these rows in this order (pages arrive from the server)."""
    page.wait_for_function("ids => JSON.stringify([...document.querySelectorAll('.grid .tr')].map(r => r.dataset.id))"
                           " === JSON.stringify(ids)", arg=ids)


def test_projects_page_lists_projects_with_run_counts_and_opens_the_runs_table(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/")
    table = page.get_by_role("table", name="projects")
    row = table.locator("tr", has=page.get_by_role("link", name="cls", exact=True))
    expect(row).to_contain_text("CLS")
    expect(row.locator("td").nth(2)).to_have_text("3")
    page.get_by_role("link", name="cls", exact=True).click()
    expect(page).to_have_url(re.compile(r"/p/cls/runs$"))
    expect(page.get_by_label("run count")).to_have_text("3 runs")


def test_runs_table_shows_truthful_states_and_series_last_values(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs")
    expect(page.locator(".grid .tr")).to_have_count(3)
    failed = page.locator('.grid .tr[data-id="CLS-2"]')
    expect(failed.locator(".badge")).to_have_text("failed")
    expect(page.locator('.grid .tr[data-id="CLS-1"] .badge')).to_have_text("finished")
    # train/loss of CLS-1 ends at 1/50 + 0.1 = 0.12
    expect(page.locator('.grid .tr[data-id="CLS-1"]')).to_contain_text("0.12")


OVERFLOW = """() => [...document.querySelectorAll('.grid .tr[data-id] .td')].map(td => ({
  text: td.textContent, clipped: getComputedStyle(td).overflowX === 'hidden',
  overflows: td.scrollWidth > td.clientWidth, ellipsis: getComputedStyle(td).textOverflow === 'ellipsis'}))"""


def test_cells_clip_only_text_that_does_not_fit(page: Any, ui_url: str) -> None:
    # A clipped cell costs the browser a paint chunk, so the table clips only where text may overflow;
    # whatever it decides, no cell's text may spill into the next one.
    page.goto(ui_url + "/p/other/runs?cols=notes/long,notes/short,x,sys/tags,sys/state")
    expect(page.locator(".grid .tr[data-id]")).to_have_count(1)
    cells = page.evaluate(OVERFLOW)
    assert len(cells) >= 6
    for c in cells:
        assert c["clipped"] or not c["overflows"], f"cell {c['text']!r} spills over its edge"
    by_text = {c["text"]: c for c in cells}
    long_note = by_text["a note far longer than any column of the runs table is wide"]
    assert long_note["clipped"] and long_note["ellipsis"] and long_note["overflows"]
    assert not by_text["ok"]["clipped"] and not by_text["1"]["clipped"]
    tags = next(c for c in cells if "a-rather-long-tag-name" in c["text"])
    assert tags["clipped"]


def test_query_filters_runs_and_lives_in_the_url(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs")
    expect(page.locator(".grid .tr")).to_have_count(3)
    q = page.get_by_label("query")
    q.fill('parameters/optimizer = "adam" AND parameters/lr < 0.005')
    q.press("Escape")
    q.press("Enter")
    expect_order(page, ["CLS-3"])
    assert "q=parameters" in page.url
    page.reload()  # the shared URL opens the same view
    expect(page.locator(".grid .tr")).to_have_count(1)
    expect(page.get_by_label("query")).to_have_value('parameters/optimizer = "adam" AND parameters/lr < 0.005')


def test_bad_query_shows_the_error_at_its_position(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs")
    q = page.get_by_label("query")
    q.fill("parameters/lr >> 1")
    q.press("Escape")
    q.press("Enter")
    alert = page.get_by_role("alert", name="query error")
    expect(alert).to_be_visible()
    lines = alert.locator(".mono").inner_text().split("\n")
    assert lines[0] == "parameters/lr >> 1"
    assert lines[1].index("^") == 15  # under the second '>'


def test_query_bar_autocompletes_field_paths(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs")
    q = page.get_by_label("query")
    q.click()
    q.type("optim")
    suggestions = page.get_by_role("listbox", name="suggestions")
    expect(suggestions.get_by_role("option").first).to_contain_text("parameters/optimizer")
    q.press("Tab")
    expect(q).to_have_value("parameters/optimizer ")


def test_sorting_by_a_column_orders_rows_both_ways(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs")
    expect(page.locator(".grid .tr")).to_have_count(3)
    header = page.get_by_role("columnheader", name="parameters/lr")
    header.click()  # numbers sort descending first
    expect(header).to_have_attribute("aria-sort", "descending")
    expect_order(page, ["CLS-1", "CLS-2", "CLS-3"])
    header.click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect_order(page, ["CLS-3", "CLS-2", "CLS-1"])
    assert "sort=parameters%2Flr" in page.url and "dir=asc" in page.url


def test_state_and_tag_quick_filters(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs")
    page.get_by_label("state filter").select_option("failed")
    expect_order(page, ["CLS-2"])
    page.get_by_label("state filter").select_option("")
    page.get_by_label("tag filter").select_option("sgd")
    expect_order(page, ["CLS-1"])


def test_adding_and_removing_a_tag_on_selected_runs(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs")
    page.get_by_label("select CLS-1").check()
    page.get_by_label("select CLS-3").check()
    assert "sel=" in page.url
    page.get_by_label("tag", exact=True).fill("shortlist")
    page.get_by_role("button", name="Add tag").click()
    expect(page.locator('.grid .tr[data-id="CLS-1"] .tag', has_text="shortlist")).to_be_visible()
    expect(page.locator('.grid .tr[data-id="CLS-3"] .tag', has_text="shortlist")).to_be_visible()
    expect(page.locator('.grid .tr[data-id="CLS-2"] .tag', has_text="shortlist")).to_have_count(0)
    # stored, not just drawn: the API's table says so
    table = httpx.post(ui_url + "/api/v1/table", json={"project": "cls", "query": 'sys/tags CONTAINS "shortlist"',
                                                      "columns": ["sys/id"]}).json()
    assert sorted(table["ids"]) == ["CLS-1", "CLS-3"]
    page.get_by_label("tag", exact=True).fill("shortlist")
    page.get_by_role("button", name="Remove tag").click()
    expect(page.locator(".grid .tag", has_text="shortlist")).to_have_count(0)


def test_keyboard_moves_selects_and_opens_runs(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs?sort=sys/id&dir=asc")
    expect(page.locator(".grid .tr")).to_have_count(3)
    grid = page.get_by_role("grid", name="runs")
    grid.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    expect(page.get_by_label("select CLS-2")).to_be_checked()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/p/cls/runs/CLS-2"))
    expect(page.get_by_role("heading", name="CLS-2")).to_be_visible()


def test_column_picker_adds_a_series_minimum_column(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs")
    page.get_by_role("button", name=re.compile("^Columns")).click()
    dialog = page.get_by_role("dialog", name="columns")
    dialog.get_by_label("search columns").fill("train/loss")
    dialog.locator("label", has_text="min").locator("input").check()
    dialog.get_by_role("button", name="Done").click()
    # columns are virtual: the new last one is drawn once the table is scrolled to it
    page.get_by_role("grid", name="runs").evaluate("g => { g.scrollLeft = g.scrollWidth; }")
    header = page.get_by_role("columnheader", name="train/loss:min")
    expect(header).to_be_visible()
    # the minimum of 1/(step+1) + lr over 50 steps is 1/50 + lr: 0.03 for CLS-2 (lr 0.01)
    idx = page.locator(".grid .hdr .th").evaluate_all("hs => hs.findIndex(h => h.title === 'train/loss:min')")
    cell = page.locator('.grid .tr[data-id="CLS-2"] .td').nth(idx)
    expect(cell).to_have_text("0.03")


def test_saved_view_restores_query_and_columns(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs?cols=sys/name,parameters/lr&q=parameters/lr%20%3E%200.005")
    expect(page.locator(".grid .tr")).to_have_count(2)
    page.once("dialog", lambda d: d.accept("fast-lr"))
    page.get_by_role("button", name="Save view").click()
    expect(page.get_by_label("saved views").locator("option", has_text="fast-lr")).to_have_count(1)
    page.goto(ui_url + "/p/cls/runs")
    expect(page.locator(".grid .tr")).to_have_count(3)
    page.get_by_label("saved views").select_option("fast-lr")
    expect(page.locator(".grid .tr")).to_have_count(2)
    expect(page.locator(".grid .hdr .th[title]")).to_have_count(2)


def test_empty_filter_result_says_how_to_get_out(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/p/cls/runs?q=parameters/lr%20%3E%20100")
    expect(page.get_by_text("No run matches this filter.")).to_be_visible()
    page.get_by_role("button", name="Clear the filters").click()
    expect(page.locator(".grid .tr")).to_have_count(3)


def test_theme_toggle_switches_to_dark_and_remembers_it(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/")
    html = page.locator("html")
    start = html.get_attribute("data-theme")
    page.get_by_role("button", name=re.compile("switch to the")).click()
    expect(html).not_to_have_attribute("data-theme", start or "")
    after = html.get_attribute("data-theme")
    page.reload()
    expect(html).to_have_attribute("data-theme", after or "")
