import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useMemo, useRef, useState } from "react";
import { api, Field, FieldType, Row, SavedView } from "../api";
import { Failure } from "../App";
import { ColumnPicker } from "../components/ColumnPicker";
import { QueryBar } from "../components/QueryBar";
import { cellText, cellValue, compareCells, splitColumn, STATES } from "../format";
import { useInterval, useLoad } from "../hooks";
import { Link, navigate, paths, setParams, useParams, useTitle } from "../router";

const ALWAYS = ["sys/id", "sys/state", "sys/tags"]; // fetched for the quick filters and the state badge
const NUMERIC: FieldType[] = ["Float", "Integer", "FloatSeries", "Datetime"];

function defaultColumns(fields: Record<string, FieldType>): string[] {
  const entries = Object.entries(fields);
  const params = entries.filter(([p, t]) => /^(parameters|params|config)\//.test(p) && t !== "FloatSeries").map(([p]) => p).slice(0, 5);
  const metrics = entries.filter(([p, t]) => t === "FloatSeries" && !p.startsWith("monitoring/") && !p.startsWith("sys/")).map(([p]) => p).slice(0, 5);
  return ["sys/name", "sys/state", "sys/creation_time", "sys/owner", "sys/tags", ...params, ...metrics];
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export function Runs({ project }: { project: string }) {
  useTitle(project);
  const params = useParams();
  const q = params.get("q") ?? "";
  const state = params.get("state") ?? "";
  const tag = params.get("tag") ?? "";
  const sort = params.get("sort") ?? "sys/creation_time";
  const dir = params.get("dir") === "asc" ? "asc" : "desc";
  const selected = useMemo(() => new Set((params.get("sel") ?? "").split(",").filter(Boolean)), [params.get("sel")]);
  const live = params.get("live") !== "0";

  const fields = useLoad(() => api.fields(project), [project]);
  const fieldTypes = fields.data ?? {};
  const columns = useMemo(() => {
    const fromUrl = params.get("cols");
    if (fromUrl !== null) return fromUrl.split(",").filter(Boolean);
    return fields.data ? defaultColumns(fields.data) : [];
  }, [params.get("cols"), fields.data]);

  const filters = [state && `sys/state = ${quote(state)}`, tag && `sys/tags CONTAINS ${quote(tag)}`].filter(Boolean);
  // the user's query comes first, so an error position in it needs only the "(" taken off
  const fullQuery = filters.length ? [q && `(${q})`, ...filters].filter(Boolean).join(" AND ") : q;
  const queryShift = filters.length && q ? 1 : 0;
  const wanted = useMemo(() => [...new Set([...ALWAYS, ...columns.map((c) => splitColumn(c)[0])])], [columns]);
  const table = useLoad(
    (signal) => (fields.data ? api.table(project, { query: fullQuery || undefined, columns: wanted }, signal) : new Promise<never>(() => {})),
    [project, fullQuery, wanted.join("\u0000"), fields.data !== undefined],
  );
  useInterval(() => table.reload(), live ? 10_000 : null);

  const rows = useMemo(() => {
    const t = table.data;
    if (!t) return [] as { id: string; row: Row }[];
    const out = t.ids.map((id, i) => ({ id, row: t.rows[i] }));
    const [path, agg] = splitColumn(sort);
    const keys = new Map(out.map((r) => [r.id, cellValue(r.row[path], agg)]));
    out.sort((a, b) => {
      const ka = keys.get(a.id)!, kb = keys.get(b.id)!;
      if (ka === null || kb === null) return compareCells(ka, kb);
      return dir === "asc" ? compareCells(ka, kb) : compareCells(kb, ka);
    });
    return out;
  }, [table.data, sort, dir]);

  const allTags = useMemo(() => {
    const s = new Set<string>();
    for (const r of table.data?.rows ?? []) for (const t of (r["sys/tags"]?.value as string[] | undefined) ?? []) s.add(t);
    if (tag) s.add(tag);
    return [...s].sort();
  }, [table.data, tag]);

  const [picker, setPicker] = useState(false);
  const [focus, setFocus] = useState(0);
  const [tagText, setTagText] = useState("");
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<Error | undefined>();
  const queryInput = useRef<HTMLInputElement>(null);
  const gridRef = useRef<HTMLDivElement>(null);
  const views = useLoad(() => api.views(project), [project]);

  const virt = useVirtualizer({ count: rows.length, getScrollElement: () => gridRef.current, estimateSize: () => 32, overscan: 12 });

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "/" && !(e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement)) {
        e.preventDefault();
        queryInput.current?.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  function setSelected(next: Set<string>) {
    setParams({ sel: [...next].join(",") });
  }
  function toggle(id: string) {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  }
  function sortBy(col: string) {
    if (sort === col) setParams({ dir: dir === "asc" ? "desc" : "asc" });
    else setParams({ sort: col, dir: NUMERIC.includes(fieldTypes[splitColumn(col)[0]]) ? "desc" : "asc" });
  }
  async function editTags(op: "add" | "remove") {
    const value = tagText.trim();
    if (!value || selected.size === 0) return;
    setBusy(op);
    setActionError(undefined);
    try {
      await Promise.all(
        [...selected].map(async (id) => {
          const c = await api.lookup(id, project);
          await api.edit(c.uuid, [{ op, path: "sys/tags", values: [value] }]);
        }),
      );
      setTagText("");
      table.reload();
    } catch (e) {
      setActionError(e as Error);
    } finally {
      setBusy(null);
    }
  }
  async function saveView() {
    const name = prompt("Name of this view (columns, query and sort):");
    if (!name) return;
    try {
      await api.saveView(project, name, { q, cols: columns, sort, dir });
      views.reload();
    } catch (e) {
      setActionError(e as Error);
    }
  }
  function applyView(name: string) {
    const v: SavedView | undefined = views.data?.[name];
    if (!v) return;
    setParams({ q: v.q ?? null, cols: v.cols?.join(",") ?? null, sort: v.sort ?? null, dir: v.dir ?? null, view: name }, true);
  }

  function onGridKey(e: React.KeyboardEvent) {
    if (rows.length === 0) return;
    let next = focus;
    if (e.key === "ArrowDown" || e.key === "j") next = Math.min(rows.length - 1, focus + 1);
    else if (e.key === "ArrowUp" || e.key === "k") next = Math.max(0, focus - 1);
    else if (e.key === "PageDown") next = Math.min(rows.length - 1, focus + 20);
    else if (e.key === "PageUp") next = Math.max(0, focus - 20);
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = rows.length - 1;
    else if (e.key === " " || e.key === "x") {
      e.preventDefault();
      toggle(rows[focus].id);
      return;
    } else if (e.key === "Enter") {
      navigate(paths.run(project, rows[focus].id));
      return;
    } else return;
    e.preventDefault();
    setFocus(next);
    virt.scrollToIndex(next);
  }

  const widths = columns.map((c) => (c === "sys/name" ? 200 : c === "sys/creation_time" || c === "sys/modification_time" ? 175 : c === "sys/tags" ? 180 : 140));
  const total = table.data?.ids.length ?? 0;
  const noRunsAtAll = table.data && total === 0 && !fullQuery;
  const allSelected = rows.length > 0 && rows.every((r) => selected.has(r.id));

  return (
    <div className="runs">
      <div className="toolbar">
        <QueryBar value={q} fields={fieldTypes} error={table.error} shift={queryShift} inputRef={queryInput} onSubmit={(v) => setParams({ q: v, view: null }, true)} />
        <select aria-label="state filter" value={state} onChange={(e) => setParams({ state: e.target.value }, true)}>
          <option value="">Any state</option>
          {STATES.map((s) => (
            <option key={s} value={s}>{s}</option>
          ))}
        </select>
        <select aria-label="tag filter" value={tag} onChange={(e) => setParams({ tag: e.target.value }, true)}>
          <option value="">Any tag</option>
          {allTags.map((t) => (
            <option key={t} value={t}>{t}</option>
          ))}
        </select>
        <select aria-label="saved views" value={params.get("view") ?? ""} onChange={(e) => applyView(e.target.value)}>
          <option value="">Views…</option>
          {Object.keys(views.data ?? {}).sort().map((v) => (
            <option key={v} value={v}>{v}</option>
          ))}
        </select>
        <button onClick={saveView} title="Save the columns, query and sort as a named view of this project">Save view</button>
        <button onClick={() => setPicker((p) => !p)} aria-expanded={picker}>Columns ({columns.length})</button>
        <label className="row small muted" title="Reload the table every 10 seconds">
          <input type="checkbox" checked={live} onChange={(e) => setParams({ live: e.target.checked ? null : "0" })} /> live
        </label>
      </div>
      {selected.size > 0 && (
        <div className="toolbar" aria-label="selection actions" style={{ background: "var(--sel)" }}>
          <span>{selected.size} selected</span>
          <input aria-label="tag" placeholder="tag" value={tagText} onChange={(e) => setTagText(e.target.value)} onKeyDown={(e) => e.key === "Enter" && editTags("add")} />
          <button onClick={() => editTags("add")} disabled={!tagText.trim() || busy !== null}>Add tag</button>
          <button onClick={() => editTags("remove")} disabled={!tagText.trim() || busy !== null}>Remove tag</button>
          <button className="primary" disabled={selected.size < 2} onClick={() => navigate(paths.compare(project, [...selected]))}>
            Compare {selected.size}
          </button>
          <button className="link" onClick={() => setSelected(new Set())}>Clear selection</button>
        </div>
      )}
      {picker && <ColumnPicker fields={fieldTypes} columns={columns} onChange={(c) => setParams({ cols: c.join(",") })} onClose={() => setPicker(false)} />}
      {actionError && <Failure error={actionError} />}
      {fields.error && <Failure error={fields.error} retry={fields.reload} />}
      {table.error && !(table.error as { code?: string }).code?.startsWith("invalid_query") && <Failure error={table.error} retry={table.reload} />}
      {noRunsAtAll ? (
        <div className="page">
          <div className="empty">
            Project <b>{project}</b> has no runs yet. Start one with <code>naiad.init_run(project="{project}")</code>.
          </div>
        </div>
      ) : (
        <div className="grid" ref={gridRef} tabIndex={0} onKeyDown={onGridKey} role="grid" aria-label="runs" aria-rowcount={rows.length}
          data-rows={rows.length} data-loading={table.loading ? "1" : "0"}>
          <div className="hdr" role="row">
            <div className="th check">
              <input type="checkbox" aria-label="select all" checked={allSelected}
                onChange={() => setSelected(allSelected ? new Set() : new Set(rows.map((r) => r.id)))} />
            </div>
            <div className="th" style={{ width: 96 }} role="columnheader" onClick={() => sortBy("sys/id")} aria-sort={sort === "sys/id" ? (dir === "asc" ? "ascending" : "descending") : "none"}>
              Id {sort === "sys/id" && (dir === "asc" ? "↑" : "↓")}
            </div>
            {columns.map((c, i) => (
              <div key={c} className="th" role="columnheader" title={c} style={{ width: widths[i] }} onClick={() => sortBy(c)}
                aria-sort={sort === c ? (dir === "asc" ? "ascending" : "descending") : "none"}>
                {c.replace(/^sys\//, "")} {sort === c && (dir === "asc" ? "↑" : "↓")}
                <button className="x" aria-label={`hide ${c}`} onClick={(e) => { e.stopPropagation(); setParams({ cols: columns.filter((x) => x !== c).join(",") }); }}>×</button>
              </div>
            ))}
          </div>
          <div style={{ height: virt.getTotalSize(), position: "relative" }}>
            {virt.getVirtualItems().map((v) => {
              const r = rows[v.index];
              return (
                <div key={r.id} role="row" aria-selected={selected.has(r.id)} data-id={r.id}
                  className={`tr${selected.has(r.id) ? " sel" : ""}${v.index === focus ? " focus" : ""}`}
                  style={{ top: v.start, height: 32 }} onClick={() => setFocus(v.index)}>
                  <div className="td check">
                    <input type="checkbox" aria-label={`select ${r.id}`} checked={selected.has(r.id)} onChange={() => toggle(r.id)} />
                  </div>
                  <div className="td" style={{ width: 96 }}>
                    <Link to={paths.run(project, r.id)}>{r.id}</Link>
                  </div>
                  {columns.map((c, i) => (
                    <Cell key={c} col={c} field={r.row[splitColumn(c)[0]]} width={widths[i]} />
                  ))}
                </div>
              );
            })}
          </div>
          {table.data && rows.length === 0 && (
            <div className="page"><div className="empty">No run matches this filter. <button className="link" onClick={() => setParams({ q: null, state: null, tag: null }, true)}>Clear the filters</button></div></div>
          )}
        </div>
      )}
      <div className="statusbar">
        <span aria-label="run count">{table.loading && !table.data ? "Loading…" : `${rows.length.toLocaleString("en-US")} runs`}</span>
        <span>↑↓ move · Space select · Enter open · / query</span>
      </div>
    </div>
  );
}

function Cell({ col, field, width }: { col: string; field: Field | undefined; width: number }) {
  const [, agg] = splitColumn(col);
  if (col === "sys/state" && field) {
    const s = String(field.value);
    return (
      <div className="td" style={{ width }}>
        <span className={`badge state-${s}`}>{s}</span>
      </div>
    );
  }
  if (field?.type === "StringSet") {
    return (
      <div className="td" style={{ width }} title={(field.value as string[]).join(", ")}>
        {(field.value as string[]).map((t) => <span key={t} className="tag">{t}</span>)}
      </div>
    );
  }
  const text = cellText(field, agg);
  const numeric = field && NUMERIC.includes(field.type) && field.type !== "Datetime";
  const title = field?.type === "FloatSeries" ? `last ${cellText(field)} · min ${cellText(field, "min")} · max ${cellText(field, "max")} · ${field.count} points` : text;
  return (
    <div className={`td${numeric ? " num" : ""}`} style={{ width }} title={title}>
      {text}
    </div>
  );
}
