import { useEffect, useMemo, useState } from "react";
import { api, Field, Points, Row } from "../api";
import { ChartOptions } from "../components/ChartOptions";
import { Failure } from "../components/Failure";
import { GateTable } from "../components/GateTable";
import { XMode } from "../components/Chart";
import { BlobImage, FileEntry, Preview } from "../components/Previews";
import { Lazy, SeriesChart } from "../components/SeriesChart";
import { cellText, FileRef, fileName, fmtBytes, fmtTime } from "../format";
import { useInterval, useLoad } from "../hooks";
import { Link, paths, setParams, useParams, useTitle } from "../router";

const TABS = ["charts", "hardware", "logs", "files", "fields"] as const;
type Tab = (typeof TABS)[number];

export function RunPage({ project, id }: { project: string; id: string }) {
  useTitle(id);
  const params = useParams();
  const tab = (TABS as readonly string[]).includes(params.get("tab") ?? "") ? (params.get("tab") as Tab) : "charts";
  const container = useLoad(() => api.lookup(id, project), [id, project]);
  const uuid = container.data?.uuid;
  const fields = useLoad(() => (uuid ? api.readFields(uuid) : new Promise<Row>(() => {})), [uuid]);
  const [refresh, setRefresh] = useState(0);
  const running = fields.data?.["sys/state"]?.value === "running";
  useInterval(() => {
    fields.reload();
    setRefresh((r) => r + 1);
  }, running ? 5000 : null);

  if (container.error) return <div className="page"><Failure error={container.error} retry={container.reload} /></div>;
  if (fields.error) return <div className="page"><Failure error={fields.error} retry={fields.reload} /></div>;
  const f = fields.data;
  if (!f || !uuid) return <div className="page muted">Loading {id}…</div>;
  const state = String(f["sys/state"]?.value ?? "");
  return (
    <div className="page">
      <div className="runhead">
        <h1>{id}</h1>
        {f["sys/name"]?.value ? <span className="muted" style={{ fontSize: 16 }}>{String(f["sys/name"].value)}</span> : null}
        {state && <span className={`badge state-${state}`} aria-label="state">{state}</span>}
        <span className="muted small">
          {f["sys/owner"]?.value ? `by ${f["sys/owner"].value} · ` : ""}
          {f["sys/creation_time"] ? `created ${fmtTime(Number(f["sys/creation_time"].value))}` : ""}
        </span>
      </div>
      {container.data?.kind === "model_version" && <VersionBox project={project} id={id} fields={f} />}
      <TagsEditor uuid={uuid} tags={(f["sys/tags"]?.value as string[]) ?? []} onChange={fields.reload} />
      <DescriptionEditor uuid={uuid} value={String(f["sys/description"]?.value ?? "")} onChange={fields.reload} />
      <div className="tabs" role="tablist">
        {TABS.map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "on" : ""} onClick={() => setParams({ tab: t === "charts" ? null : t })}>
            {t[0].toUpperCase() + t.slice(1)}
          </button>
        ))}
      </div>
      {tab === "charts" && <Charts uuid={uuid} fields={f} label={id} hardware={false} version={container.data?.kind === "model_version"} refresh={refresh} />}
      {tab === "hardware" && <Charts uuid={uuid} fields={f} label={id} hardware version={container.data?.kind === "model_version"} refresh={refresh} />}
      {tab === "logs" && <Logs uuid={uuid} fields={f} refresh={refresh} />}
      {tab === "files" && <Files uuid={uuid} fields={f} />}
      {tab === "fields" && <FieldTree fields={f} />}
    </div>
  );
}

// On a model version's page: its model, stage, aliases, the run that trained it, and every gate
// decision about it.
function VersionBox({ project, id, fields }: { project: string; id: string; fields: Row }) {
  const model = String(fields["sys/model_id"]?.value ?? "");
  const decisions = useLoad(() => (model ? api.gateDecisions(model) : Promise.resolve([])), [model]);
  const mine = (decisions.data ?? []).filter((d) => d.candidate === id || d.baseline === id);
  const stage = String(fields["sys/stage"]?.value ?? "none");
  return (
    <>
      <div className="card registry" aria-label="registry">
        <span>model <Link to={paths.model(project, model)}>{model}</Link></span>
        <span>stage <span className={`badge stage-${stage}`}>{stage}</span></span>
        {((fields["sys/aliases"]?.value as string[]) ?? []).map((a) => <span key={a} className="tag">{a}</span>)}
        {fields["run/id"] ? <span>trained by <Link to={paths.run(project, String(fields["run/id"].value))}>{String(fields["run/id"].value)}</Link></span> : null}
        <Link to={paths.model(project, model, "monitoring")}>monitoring</Link>
      </div>
      {decisions.error && <Failure error={decisions.error} />}
      {mine.length > 0 && (
        <div style={{ marginBottom: 12 }}>
          <div className="muted small" style={{ marginBottom: 4 }}>Gate decisions with {id} as candidate or baseline</div>
          <GateTable project={project} decisions={mine} />
        </div>
      )}
    </>
  );
}

function TagsEditor({ uuid, tags, onChange }: { uuid: string; tags: string[]; onChange: () => void }) {
  const [text, setText] = useState("");
  const [error, setError] = useState<Error>();
  async function edit(op: "add" | "remove", value: string) {
    try {
      await api.edit(uuid, [{ op, path: "sys/tags", values: [value] }]);
      setText("");
      onChange();
    } catch (e) {
      setError(e as Error);
    }
  }
  return (
    <div className="row" style={{ marginBottom: 8 }} aria-label="tags">
      {tags.map((t) => (
        <span key={t} className="tag">
          {t}
          <button aria-label={`remove tag ${t}`} onClick={() => edit("remove", t)}>×</button>
        </span>
      ))}
      <input aria-label="new tag" placeholder="+ tag" value={text} style={{ width: 110, padding: "1px 6px" }} onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => e.key === "Enter" && text.trim() && edit("add", text.trim())} />
      {error && <Failure error={error} />}
    </div>
  );
}

function DescriptionEditor({ uuid, value, onChange }: { uuid: string; value: string; onChange: () => void }) {
  const [text, setText] = useState(value);
  const [error, setError] = useState<Error>();
  useEffect(() => setText(value), [value]);
  return (
    <div style={{ marginBottom: 8 }}>
      <textarea aria-label="description" placeholder="Add a description…" rows={text ? 2 : 1} style={{ width: "100%", maxWidth: 720, resize: "vertical" }}
        value={text} onChange={(e) => setText(e.target.value)}
        onBlur={async () => {
          if (text === value) return;
          try {
            await api.edit(uuid, [{ op: "assign", path: "sys/description", type: "String", value: text }]);
            onChange();
          } catch (e) {
            setError(e as Error);
          }
        }} />
      {error && <Failure error={error} />}
    </div>
  );
}

function isHardware(path: string): boolean {
  return path.startsWith("monitoring/") || path.startsWith("sys/monitoring/");
}

function Charts({ uuid, fields, label, hardware, version, refresh }: { uuid: string; fields: Row; label: string; hardware: boolean; version: boolean; refresh: number }) {
  const params = useParams();
  const xMode = (["step", "time", "relative"].includes(params.get("x") ?? "") ? params.get("x") : "step") as XMode;
  const smoothing = Number(params.get("smooth") ?? 0);
  const log = params.get("log") === "1";
  const filter = params.get("filter") ?? "";
  const series = Object.entries(fields)
    // a model version's monitoring/* series are its evaluations over time, not hardware
    .filter(([p, v]) => v.type === "FloatSeries" && (isHardware(p) && !version) === hardware && p.toLowerCase().includes(filter.toLowerCase()))
    .sort(([a], [b]) => a.localeCompare(b));
  const runs = useMemo(() => [{ uuid, label }], [uuid, label]);
  return (
    <>
      <ChartOptions xMode={xMode} smoothing={smoothing} log={log} filter={filter} />
      {series.length === 0 && (
        <div className="empty">
          {hardware
            ? "No hardware series: naiad records CPU, memory and GPU usage while a run is open (capture_hardware_metrics)."
            : filter
              ? `No float series matches “${filter}”.`
              : <>No float series in this run. Log one with <code>run["train/loss"].append(value)</code>.</>}
        </div>
      )}
      <div className="charts">
        {series.map(([path, v]) => (
          <Lazy key={path}>
            <SeriesChart path={path} runs={runs} counts={[v.count ?? 0]} xMode={xMode} smoothing={smoothing} log={log} refresh={refresh} />
          </Lazy>
        ))}
      </div>
    </>
  );
}

function Logs({ uuid, fields, refresh }: { uuid: string; fields: Row; refresh: number }) {
  const logs = Object.entries(fields).filter(([, v]) => v.type === "StringSeries").map(([p]) => p).sort((a, b) => {
    const rank = (p: string) => (/stdout$/.test(p) ? 0 : /stderr$/.test(p) ? 1 : 2);
    return rank(a) - rank(b) || a.localeCompare(b);
  });
  const params = useParams();
  const chosen = logs.includes(params.get("log_path") ?? "") ? params.get("log_path")! : logs[0];
  const [pages, setPages] = useState(1);
  const page = 1000;
  const data = useLoad(() => (chosen ? api.points(uuid, chosen, -page * pages, page * pages) : Promise.resolve(null as Points | null)), [uuid, chosen, pages, refresh]);
  if (logs.length === 0) return <div className="empty">No text series (stdout, stderr or <code>run["log"].append("…")</code>) in this run.</div>;
  const d = data.data;
  return (
    <div>
      <div className="row" style={{ marginBottom: 8 }}>
        <select aria-label="log" value={chosen} onChange={(e) => { setPages(1); setParams({ log_path: e.target.value }); }}>
          {logs.map((l) => <option key={l} value={l}>{l}</option>)}
        </select>
        {d && <span className="muted small">{d.total.toLocaleString("en-US")} lines</span>}
        {d && d.offset > 0 && <button onClick={() => setPages((p) => p + 1)}>Load 1,000 earlier lines</button>}
      </div>
      {data.error && <Failure error={data.error} />}
      <div className="logs" aria-label="log lines">
        {d?.values.map((v, i) => (
          <div key={d.offset + i}><span className="step">{d.steps[i]}</span>{String(v)}</div>
        ))}
      </div>
    </div>
  );
}

function fileEntries(fields: Row): FileEntry[] {
  const out: FileEntry[] = [];
  for (const [path, v] of Object.entries(fields).sort(([a], [b]) => a.localeCompare(b))) {
    if (v.type === "File" && v.value) {
      const ref = v.value as FileRef;
      out.push({ key: path, field: path, name: fileName(ref, path.split("/").pop()), hash: ref.hash, size: ref.size });
    } else if (v.type === "FileSet" && v.value) {
      for (const [name, ref] of Object.entries(v.value as Record<string, FileRef>)) {
        out.push({ key: `${path}/${name}`, field: path, name, hash: ref.hash, size: ref.size });
      }
    } else if (v.type === "Artifact" && v.value) {
      const art = v.value as { hash: string; files: { file_path: string; file_hash: string; type: string; size: number; metadata?: { file_path?: string } }[] };
      for (const e of art.files ?? []) {
        out.push({
          key: `${path}/${e.file_path}`, field: path, name: e.file_path, hash: e.type === "Local" || e.type === "Stored" ? e.file_hash : null,
          size: e.size, note: `artifact ${art.hash.slice(0, 12)}… · file hash ${e.file_hash} · ${e.metadata?.file_path ?? e.type}`,
        });
      }
    }
  }
  return out;
}

function Files({ uuid, fields }: { uuid: string; fields: Row }) {
  const entries = useMemo(() => fileEntries(fields), [fields]);
  const imageSeries = Object.entries(fields).filter(([, v]) => v.type === "FileSeries").map(([p, v]) => [p, v] as [string, Field]);
  const params = useParams();
  const chosen = entries.find((e) => e.key === params.get("file")) ?? entries[0];
  if (entries.length === 0 && imageSeries.length === 0) {
    return <div className="empty">No files in this run. Upload one with <code>run["model"].upload("model.pt")</code>.</div>;
  }
  return (
    <>
      {imageSeries.map(([p, v]) => <ImageSeries key={p} uuid={uuid} path={p} count={v.count ?? 0} />)}
      {entries.length > 0 && (
        <div className="files">
          <div className="list card" role="listbox" aria-label="files">
            {entries.map((e) => (
              <div key={e.key} role="option" aria-selected={e === chosen} className={e === chosen ? "on" : ""} onClick={() => setParams({ file: e.key })} title={e.key}>
                <span className="mono" style={{ overflow: "hidden", textOverflow: "ellipsis" }}>{e.key}</span>
                <span className="muted small">{fmtBytes(e.size)}</span>
              </div>
            ))}
          </div>
          {chosen && <Preview entry={chosen} />}
        </div>
      )}
    </>
  );
}

function ImageSeries({ uuid, path, count }: { uuid: string; path: string; count: number }) {
  const [index, setIndex] = useState(Math.max(0, count - 1));
  const point = useLoad(() => api.points(uuid, path, index, 1), [uuid, path, index]);
  const raw = point.data?.values[0];
  const ref = raw ? (JSON.parse(String(raw)) as FileRef) : null;
  return (
    <div className="card preview" style={{ marginBottom: 16 }} aria-label={`image series ${path}`}>
      <div className="row">
        <b className="mono">{path}</b>
        <input type="range" aria-label="step" min={0} max={Math.max(0, count - 1)} value={index} onChange={(e) => setIndex(Number(e.target.value))} style={{ flex: 1, maxWidth: 400 }} />
        <span className="muted small">{point.data ? `step ${point.data.steps[0]}` : ""} · {index + 1} of {count}</span>
      </div>
      {ref && <BlobImage hash={ref.hash} alt={`${path} step ${point.data?.steps[0]}`} />}
    </div>
  );
}

function FieldTree({ fields }: { fields: Row }) {
  const [closed, setClosed] = useState<Set<string>>(new Set());
  const [filter, setFilter] = useState("");
  const paths = Object.keys(fields).filter((p) => p.toLowerCase().includes(filter.toLowerCase())).sort();
  const groups = new Map<string, string[]>();
  for (const p of paths) {
    const ns = p.includes("/") ? p.slice(0, p.indexOf("/")) : "";
    groups.set(ns, [...(groups.get(ns) ?? []), p]);
  }
  return (
    <div className="tree" aria-label="fields">
      <input aria-label="filter fields" placeholder="Filter fields" value={filter} onChange={(e) => setFilter(e.target.value)} style={{ marginBottom: 8 }} />
      {[...groups.entries()].map(([ns, ps]) => (
        <div key={ns}>
          {ns && (
            <div className="ns" onClick={() => { const n = new Set(closed); if (n.has(ns)) n.delete(ns); else n.add(ns); setClosed(n); }}>
              {closed.has(ns) ? "▸" : "▾"} {ns} <span className="muted small">({ps.length})</span>
            </div>
          )}
          {!closed.has(ns) && ps.map((p) => (
            <div key={p} className="node" data-path={p}>
              <div className="path">{ns ? p.slice(ns.length + 1) : p}</div>
              <div className="val">
                <FieldValueView f={fields[p]} />
                <span className="type">{fields[p].type}</span>
              </div>
            </div>
          ))}
        </div>
      ))}
    </div>
  );
}

function FieldValueView({ f }: { f: Field }) {
  if (f.type === "FloatSeries") return <span className="mono">last {cellText(f)} · {f.count?.toLocaleString("en-US")} points</span>;
  if (f.type === "StringSeries" || f.type === "FileSeries") return <span>{f.count?.toLocaleString("en-US")} entries{f.type === "StringSeries" ? `, last: ${String(f.value ?? "").slice(0, 200)}` : ""}</span>;
  if (f.type === "File") return <span className="mono">{fileName(f.value as FileRef)} · {fmtBytes((f.value as FileRef).size)}</span>;
  if (f.type === "FileSet") return <span>{Object.keys(f.value as object).length} files</span>;
  if (f.type === "Artifact") return <span className="mono">{((f.value as { files: unknown[] }).files ?? []).length} files · {(f.value as { hash: string }).hash.slice(0, 16)}…</span>;
  if (f.type === "StringSet") return <span>{(f.value as string[]).map((t) => <span key={t} className="tag">{t}</span>)}</span>;
  return <span className={f.type === "String" ? "" : "mono"}>{cellText(f)}</span>;
}
