import { useMemo } from "react";
import { api, Row } from "../api";
import { ChartOptions } from "../components/ChartOptions";
import { Failure } from "../components/Failure";
import { PALETTE, XMode } from "../components/Chart";
import { ParallelCoords } from "../components/ParallelCoords";
import { Lazy, SeriesChart } from "../components/SeriesChart";
import { cellText, cellValue, quote } from "../format";
import { useLoad } from "../hooks";
import { Link, paths, setParams, useParams, useTitle } from "../router";

const TABS = ["charts", "table", "parallel"] as const;

export function Compare({ project }: { project: string }) {
  useTitle(`Compare · ${project}`);
  const params = useParams();
  const ids = useMemo(() => (params.get("ids") ?? "").split(",").filter(Boolean), [params.get("ids")]);
  const tab = (TABS as readonly string[]).includes(params.get("tab") ?? "") ? params.get("tab")! : "charts";
  const data = useLoad(async () => {
    if (ids.length === 0) return null;
    const query = ids.map((id) => `sys/id = ${quote(id)}`).join(" OR ");
    const [table, containers] = await Promise.all([api.table(project, { query }), Promise.all(ids.map((id) => api.lookup(id, project)))]);
    const byId = new Map(table.ids.map((id, i) => [id, table.rows[i]]));
    return ids.filter((id) => byId.has(id)).map((id, i) => ({ id, row: byId.get(id)!, uuid: containers[ids.indexOf(id)].uuid, color: PALETTE[i % PALETTE.length] }));
  }, [project, ids.join(",")]);

  if (ids.length === 0) {
    return <div className="page"><div className="empty">Pick two or more runs in the <Link to={paths.runs(project)}>runs table</Link> and press Compare.</div></div>;
  }
  if (data.error) return <div className="page"><Failure error={data.error} retry={data.reload} /></div>;
  const runs = data.data;
  if (!runs) return <div className="page muted">Loading {ids.length} runs…</div>;
  const legendCol = params.get("legend") ?? "sys/id";
  const label = (r: { id: string; row: Row }) => (legendCol === "sys/id" ? r.id : `${r.id} · ${cellText(r.row[legendCol]) || "—"}`);
  const allPaths = [...new Set(runs.flatMap((r) => Object.keys(r.row)))].sort();

  return (
    <div className="page">
      <div className="runhead">
        <h1>Compare {runs.length} runs</h1>
        <label className="row small muted">
          legend
          <select aria-label="legend" value={legendCol} onChange={(e) => setParams({ legend: e.target.value === "sys/id" ? null : e.target.value })}>
            {allPaths.filter((p) => !["FloatSeries", "StringSeries", "FileSeries", "File", "FileSet", "Artifact"].includes(runs[0].row[p]?.type ?? "")).map((p) => (
              <option key={p} value={p}>{p}</option>
            ))}
          </select>
        </label>
      </div>
      <div className="legend" aria-label="legend">
        {runs.map((r) => (
          <span key={r.id}>
            <i style={{ background: r.color }} />
            <Link to={paths.run(project, r.id)}>{label(r)}</Link>
          </span>
        ))}
      </div>
      <div className="tabs" role="tablist">
        {TABS.map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "on" : ""} onClick={() => setParams({ tab: t === "charts" ? null : t })}>
            {t === "table" ? "Side by side" : t === "parallel" ? "Parallel coordinates" : "Charts"}
          </button>
        ))}
      </div>
      {tab === "charts" && <CompareCharts runs={runs.map((r) => ({ uuid: r.uuid, label: label(r), color: r.color, row: r.row }))} />}
      {tab === "table" && <SideBySide runs={runs} paths={allPaths} />}
      {tab === "parallel" && <Parallel runs={runs} paths={allPaths} />}
    </div>
  );
}

function CompareCharts({ runs }: { runs: { uuid: string; label: string; color: string; row: Row }[] }) {
  const params = useParams();
  const xMode = (["step", "time", "relative"].includes(params.get("x") ?? "") ? params.get("x") : "step") as XMode;
  const smoothing = Number(params.get("smooth") ?? 0);
  const log = params.get("log") === "1";
  const filter = params.get("filter") ?? "";
  const series = [...new Set(runs.flatMap((r) => Object.entries(r.row).filter(([p, v]) => v.type === "FloatSeries" && !p.startsWith("monitoring/")).map(([p]) => p)))]
    .filter((p) => p.toLowerCase().includes(filter.toLowerCase()))
    .sort();
  return (
    <>
      <ChartOptions xMode={xMode} smoothing={smoothing} log={log} filter={filter} />
      {series.length === 0 && <div className="empty">These runs have no float series{filter ? ` matching “${filter}”` : ""}.</div>}
      <div className="charts">
        {series.map((path) => {
          const having = runs.filter((r) => r.row[path]);
          return (
            <Lazy key={path}>
              <SeriesChart path={path} runs={having} counts={having.map((r) => r.row[path].count ?? 0)} xMode={xMode} smoothing={smoothing} log={log} refresh={0} />
            </Lazy>
          );
        })}
      </div>
    </>
  );
}

function SideBySide({ runs, paths: all }: { runs: { id: string; row: Row; color: string }[]; paths: string[] }) {
  const params = useParams();
  const diffOnly = params.get("diff") !== "0";
  const filter = params.get("ffilter") ?? "";
  const rows = all
    .filter((p) => p.toLowerCase().includes(filter.toLowerCase()))
    .map((p) => ({ p, texts: runs.map((r) => cellText(r.row[p])) }))
    .map((x) => ({ ...x, differs: new Set(x.texts).size > 1 }))
    .filter((x) => !diffOnly || x.differs);
  return (
    <>
      <div className="row" style={{ marginBottom: 8 }}>
        <label className="row">
          <input type="checkbox" aria-label="differences only" checked={diffOnly} onChange={(e) => setParams({ diff: e.target.checked ? null : "0" })} />
          Differences only
        </label>
        <input aria-label="filter fields" placeholder="Filter fields" value={filter} onChange={(e) => setParams({ ffilter: e.target.value })} />
        <span className="muted small">{rows.length} of {all.length} fields</span>
      </div>
      <table className="plain diff" aria-label="side by side">
        <thead>
          <tr>
            <th>Field</th>
            {runs.map((r) => <th key={r.id} style={{ borderTop: `3px solid ${r.color}` }}>{r.id}</th>)}
          </tr>
        </thead>
        <tbody>
          {rows.map(({ p, texts, differs }) => (
            <tr key={p} data-field={p}>
              <td className="mono">{p}</td>
              {texts.map((t, i) => <td key={runs[i].id} className={differs ? "differs" : ""}>{t}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && <div className="empty">{diffOnly ? "These runs agree on every field shown." : "No field matches."}</div>}
    </>
  );
}

function Parallel({ runs, paths: all }: { runs: { id: string; row: Row; color: string }[]; paths: string[] }) {
  const params = useParams();
  const metrics = all.filter((p) => runs.some((r) => r.row[p]?.type === "FloatSeries") && !p.startsWith("monitoring/"));
  // by default the metric a reader looks at first: a validation or test one, if the runs have it
  const preferred = metrics.find((m) => /(^|\/)(val|valid|validation|eval|test)(\/|_|$)/.test(m)) ?? metrics[0];
  const metric = metrics.includes(params.get("metric") ?? "") ? params.get("metric")! : preferred;
  const axes = all.filter((p) => {
    if (p.startsWith("sys/") || p.startsWith("monitoring/") || p.startsWith("source_code/") || p.startsWith("environment/")) return false;
    const types = new Set(runs.map((r) => r.row[p]?.type).filter(Boolean));
    const atom = [...types].every((t) => ["Float", "Integer", "Boolean", "String"].includes(t!));
    const varies = new Set(runs.map((r) => cellText(r.row[p]))).size > 1;
    return atom && varies && types.size > 0;
  }).slice(0, 12);
  if (!metric) return <div className="empty">Parallel coordinates need a float series (a metric) in these runs.</div>;
  if (axes.length === 0) return <div className="empty">These runs share the same parameters: nothing to plot against {metric}.</div>;
  return (
    <>
      <label className="row small muted" style={{ marginBottom: 8 }}>
        metric
        <select aria-label="metric" value={metric} onChange={(e) => setParams({ metric: e.target.value })}>
          {metrics.map((m) => <option key={m} value={m}>{m} (last)</option>)}
        </select>
      </label>
      <ParallelCoords axes={axes} metric={metric}
        runs={runs.map((r) => ({ id: r.id, color: r.color, values: Object.fromEntries([...axes, metric].map((a) => {
          const v = cellValue(r.row[a]);
          return [a, typeof v === "boolean" ? String(v) : v];
        })) }))} />
    </>
  );
}
