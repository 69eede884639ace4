import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, Field, FieldType, SavedView } from "../api";
import { Failure } from "../components/Failure";
import { ColumnPicker } from "../components/ColumnPicker";
import { QueryBar } from "../components/QueryBar";
import { cellText, quote, splitColumn, STATES } from "../format";
import { fits } from "../textfit";
import { useInterval, useLoad } from "../hooks";
import { Link, navigate, paths, setParams, useParams, useTitle } from "../router";
import { cell, Page, PAGE, PagedTable, usePagedTable } from "../table";

const ALWAYS = ["sys/id", "sys/state", "sys/tags"]; // fetched for the quick filters and the state badge
const NUMERIC: FieldType[] = ["Float", "Integer", "FloatSeries", "Datetime"];

function defaultColumns(fields: Record<string, FieldType>): string[] {
  const entries = Object.entries(fields);
  const params = entries.filter(([p, t]) => /^(parameters|params|config)\//.test(p) && t !== "FloatSeries").map(([p]) => p).slice(0, 5);
  const metrics = entries.filter(([p, t]) => t === "FloatSeries" && !p.startsWith("monitoring/") && !p.startsWith("sys/")).map(([p]) => p).slice(0, 5);
  return ["sys/name", "sys/state", "sys/creation_time", "sys/owner", "sys/tags", ...params, ...metrics];
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
  const ready = fields.data !== undefined || params.get("cols") !== null; // defaults need the field list
  const table = usePagedTable(project, fullQuery, wanted, sort, dir === "asc", ready);
  useInterval(() => table.refresh(), live ? 10_000 : null);
  const total = table.total ?? 0;

  // every tag of the project, for the quick filter (not only the tags of the rows on screen)
  const tags = useLoad((signal) => api.tableWindow(project, { columns: ["sys/tags"] }, signal), [project]);
  const allTags = useMemo(() => {
    const s = new Set<string>();
    for (const v of tags.data?.columns["sys/tags"]?.values ?? []) for (const t of (v as string[] | null) ?? []) s.add(t);
    if (tag) s.add(tag);
    return [...s].sort();
  }, [tags.data, tag]);

  const [picker, setPicker] = useState(false);
  const [focus, setFocus] = useState(0);
  const [tagText, setTagText] = useState("");
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<Error | undefined>();
  const queryInput = useRef<HTMLInputElement>(null);
  const gridRef = useRef<HTMLDivElement>(null);
  const views = useLoad(() => api.views(project), [project]);


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
  const toggleRef = useRef(toggle);
  toggleRef.current = toggle;
  const onToggle = useCallback((id: string) => toggleRef.current(id), []);
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
      table.refresh();
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
    if (total === 0) return;
    let next = focus;
    const here = table.row(focus);
    if (e.key === "ArrowDown" || e.key === "j") next = Math.min(total - 1, focus + 1);
    else if (e.key === "ArrowUp" || e.key === "k") next = Math.max(0, focus - 1);
    else if (e.key === "PageDown") next = Math.min(total - 1, focus + 20);
    else if (e.key === "PageUp") next = Math.max(0, focus - 20);
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = total - 1;
    else if (e.key === " " || e.key === "x") {
      e.preventDefault();
      if (here) toggle(here.id);
      return;
    } else if (e.key === "Enter") {
      if (here) navigate(paths.run(project, here.id));
      return;
    } else return;
    e.preventDefault();
    setFocus(next);
  }

  const widths = useMemo(() => columns.map((c) => (c === "sys/name" ? 200 : c === "sys/creation_time" || c === "sys/modification_time" ? 175 : c === "sys/tags" ? 180 : 140)), [columns]);
  const noRunsAtAll = table.total === 0 && !fullQuery;
  const allSelected = total > 0 && selected.size >= total;
  async function selectAll() {
    if (allSelected) return setSelected(new Set());
    try {
      const r = await api.tableWindow(project, { query: fullQuery || undefined, columns: [] });
      setSelected(new Set(r.ids));
    } catch (e) {
      setActionError(e as Error);
    }
  }

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
      {table.error && !(table.error as { code?: string }).code?.startsWith("invalid_query") && <Failure error={table.error} retry={table.refresh} />}
      {noRunsAtAll ? (
        <div className="page">
          <div className="empty">
            Project <b>{project}</b> has no runs yet. Start one with <code>naiad.init_run(project="{project}")</code>.
          </div>
        </div>
      ) : (
        <div className="grid" ref={gridRef} tabIndex={0} onKeyDown={onGridKey} role="grid" aria-label="runs" aria-rowcount={total}
          data-rows={table.total ?? ""} data-loading={table.loading ? "1" : "0"}>
          <GridBody table={table} total={total} scroller={gridRef} project={project} columns={columns} widths={widths}
            selected={selected} focus={focus} onToggle={onToggle} onFocus={setFocus}
            header={(shown, padLeft, padRight) => (
              <div className="hdr" role="row">
                <div className="th check">
                  <input type="checkbox" aria-label="select all" checked={allSelected} onChange={selectAll} />
                </div>
                <div className="th" style={{ width: 96 }} role="columnheader" onClick={() => sortBy("sys/id")} aria-sort={sort === "sys/id" ? (dir === "asc" ? "ascending" : "descending") : "none"}>
                  Id {sort === "sys/id" && (dir === "asc" ? "↑" : "↓")}
                </div>
                <div className="pad" style={{ width: padLeft }} />
                {shown.map((i) => {
                  const c = columns[i];
                  return (
                    <div key={c} className="th" role="columnheader" title={c} style={{ width: widths[i] }} onClick={() => sortBy(c)}
                      aria-sort={sort === c ? (dir === "asc" ? "ascending" : "descending") : "none"}>
                      {c.replace(/^sys\//, "")} {sort === c && (dir === "asc" ? "↑" : "↓")}
                      <button className="x" aria-label={`hide ${c}`} onClick={(e) => { e.stopPropagation(); setParams({ cols: columns.filter((x) => x !== c).join(",") }); }}>×</button>
                    </div>
                  );
                })}
                <div className="pad" style={{ width: padRight }} />
              </div>
            )} />
          {table.total === 0 && (
            <div className="page"><div className="empty">No run matches this filter. <button className="link" onClick={() => setParams({ q: null, state: null, tag: null }, true)}>Clear the filters</button></div></div>
          )}
        </div>
      )}
      <div className="statusbar">
        <span aria-label="run count">{table.total === null ? "Loading…" : `${total.toLocaleString("en-US")} runs`}</span>
        <span>↑↓ move · Space select · Enter open · / query</span>
      </div>
    </div>
  );
}

// The header and the rows: their own component, so that scrolling re-renders only them, not the
// page around them.  Rows and columns are both virtual: only what is in view is in the DOM.
function GridBody(props: {
  table: PagedTable; total: number; scroller: React.RefObject<HTMLDivElement | null>; project: string; columns: string[];
  widths: number[]; selected: Set<string>; focus: number; onToggle: (id: string) => void; onFocus: (index: number) => void;
  header: (shown: number[], padLeft: number, padRight: number) => React.ReactNode;
}) {
  const { table, total, widths } = props;
  // The columns' virtualizer first: both read the scroll offsets on each scroll event, and the rows'
  // one re-renders synchronously on it; read after that render, the offsets would force a layout.
  const cols = useVirtualizer({
    horizontal: true, count: props.columns.length, getScrollElement: () => props.scroller.current,
    estimateSize: (i) => widths[i], overscan: 2, scrollMargin: FIXED_WIDTH,
  });
  const virt = useVirtualizer({ count: total, getScrollElement: () => props.scroller.current, estimateSize: () => 32, overscan: 8 });
  useEffect(() => cols.measure(), [widths]); // eslint-disable-line react-hooks/exhaustive-deps
  const items = virt.getVirtualItems();
  const shownCols = cols.getVirtualItems();
  const shown = shownCols.map((c) => c.index);
  const padLeft = shownCols.length ? shownCols[0].start - FIXED_WIDTH : 0;
  const padRight = shownCols.length ? cols.getTotalSize() - (shownCols[shownCols.length - 1].end - FIXED_WIDTH) : 0;
  const first = items.length ? items[0].index : 0;
  const last = items.length ? items[items.length - 1].index : 0;
  useEffect(() => {
    if (total > 0) table.ensure(first, Math.min(total - 1, last + PAGE / 5));
  }, [first, last, total, table.ensure]);
  useEffect(() => {
    if (props.focus < first || props.focus > last) virt.scrollToIndex(props.focus);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.focus]);
  const colKey = shown.join(",");
  // the header changes with the columns in view, not with each row scrolled by
  const header = useMemo(() => props.header(shown, padLeft, padRight), [props.header, colKey, padLeft, padRight]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <>
      {header}
      <div className="body" style={{ height: virt.getTotalSize(), width: FIXED_WIDTH + cols.getTotalSize() }}>
        {items.map((v) => {
          const r = table.row(v.index);
          if (!r) {
            return <div key={`wait-${v.index}`} role="row" className="tr" style={{ transform: `translateY(${v.start}px)`, height: 32 }}><div className="td muted">…</div></div>;
          }
          return (
            <RowView key={r.id} id={r.id} page={r.page} j={r.j} index={v.index} top={v.start} project={props.project} columns={props.columns}
              widths={widths} shown={shown} colKey={colKey} padLeft={padLeft} padRight={padRight} selected={props.selected.has(r.id)}
              focused={v.index === props.focus} onToggle={props.onToggle} onFocus={props.onFocus} />
          );
        })}
      </div>
    </>
  );
}

const FIXED_WIDTH = 36 + 96; // the check box and the id, always drawn
const PAD = 16; // a cell's padding, left and right

// One row, drawn again only when its own data, selection, focus or the columns in view change:
// scrolling adds rows at the edges and leaves the others alone.
const RowView = memo(
  function RowView(props: {
    id: string; page: Page; j: number; index: number; top: number; project: string; columns: string[]; widths: number[];
    shown: number[]; colKey: string; padLeft: number; padRight: number; selected: boolean; focused: boolean;
    onToggle: (id: string) => void; onFocus: (index: number) => void;
  }) {
    const { id, page, j } = props;
    return (
      <div role="row" aria-selected={props.selected} data-id={id} className={`tr${props.selected ? " sel" : ""}${props.focused ? " focus" : ""}`}
        style={{ transform: `translateY(${props.top}px)`, height: 32 }} onClick={() => props.onFocus(props.index)}>
        <div className="td check">
          <input type="checkbox" aria-label={`select ${id}`} checked={props.selected} onChange={() => props.onToggle(id)} />
        </div>
        <div className={`td${fits(id, 96 - PAD) ? "" : " clip"}`} style={{ width: 96 }}>
          <Link to={paths.run(props.project, id)}>{id}</Link>
        </div>
        <div className="pad" style={{ width: props.padLeft }} />
        {props.shown.map((i) => {
          const c = props.columns[i];
          return <Cell key={c} col={c} field={cell(page, j, splitColumn(c)[0])} width={props.widths[i]} />;
        })}
        <div className="pad" style={{ width: props.padRight }} />
      </div>
    );
  },
  (a, b) => a.id === b.id && a.page === b.page && a.j === b.j && a.top === b.top && a.colKey === b.colKey && a.padLeft === b.padLeft &&
    a.columns === b.columns && a.widths === b.widths && a.selected === b.selected && a.focused === b.focused && a.project === b.project,
);

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
      <div className="td clip" style={{ width }} title={(field.value as string[]).join(", ")}>
        {(field.value as string[]).map((t) => <span key={t} className="tag">{t}</span>)}
      </div>
    );
  }
  const text = cellText(field, agg);
  const numeric = field && NUMERIC.includes(field.type) && field.type !== "Datetime";
  const title = field?.type === "FloatSeries" ? `last ${cellText(field)} · min ${cellText(field, "min")} · max ${cellText(field, "max")} · ${field.count} points` : text;
  return (
    <div className={`td${numeric ? " num" : ""}${fits(text, width - PAD, !!numeric) ? "" : " clip"}`} style={{ width }} title={title}>
      {text}
    </div>
  );
}
