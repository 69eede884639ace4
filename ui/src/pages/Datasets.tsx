import { useMemo } from "react";
import { api, DatasetUse, ManifestEntry } from "../api";
import { Failure } from "../components/Failure";
import { fmtBytes, fmtTime } from "../format";
import { useLoad } from "../hooks";
import { Link, paths, setParams, useParams, useTitle } from "../router";

interface DatasetVersion {
  hash: string;
  files: number;
  size: number;
  first: number;
  paths: string[];
  uses: DatasetUse[];
}

function versionsOf(uses: DatasetUse[]): DatasetVersion[] {
  const by = new Map<string, DatasetVersion>();
  for (const u of uses) {
    const v = by.get(u.hash) ?? { hash: u.hash, files: u.files, size: u.size, first: u.created, paths: [], uses: [] };
    v.first = Math.min(v.first, u.created);
    if (!v.paths.includes(u.path)) v.paths.push(u.path);
    v.uses.push(u);
    by.set(u.hash, v);
  }
  return [...by.values()].sort((a, b) => b.first - a.first);
}

// Dataset versions (artifacts by content hash), what used each one, and where that led: the runs that
// trained on it, the model versions registered from those runs, and their stages.
export function Datasets({ project }: { project: string }) {
  useTitle(`Datasets · ${project}`);
  const params = useParams();
  const data = useLoad(async (signal) => {
    const [uses, versions] = await Promise.all([
      api.datasetUses(project),
      api.tableWindow(project, { kind: "model_version", columns: ["run/id", "sys/stage"] }, signal),
    ]);
    const fromRun = new Map<string, { id: string; stage: string }[]>();
    versions.ids.forEach((id, i) => {
      const run = versions.columns["run/id"]?.values[i];
      if (run) fromRun.set(String(run), [...(fromRun.get(String(run)) ?? []), { id, stage: String(versions.columns["sys/stage"]?.values[i] ?? "none") }]);
    });
    return { versions: versionsOf(uses), fromRun };
  }, [project]);
  const chosen = params.get("d");
  const other = params.get("vs");
  if (data.error) return <div className="page"><Failure error={data.error} retry={data.reload} /></div>;
  if (!data.data) return <div className="page muted">Loading datasets…</div>;
  const { versions, fromRun } = data.data;
  const current = versions.find((v) => v.hash === chosen) ?? null;
  return (
    <div className="page">
      <h1>Datasets</h1>
      {versions.length === 0 ? (
        <div className="empty">
          No dataset versions in <b>{project}</b> yet. Record one with <code>run["data/train"].track_files("data/train/")</code>: naiad keeps
          each file's hash, and the same content is one version wherever it is used.
        </div>
      ) : (
        <div className="split" style={{ gridTemplateColumns: current ? "minmax(0, 1fr) minmax(420px, 1fr)" : "1fr" }}>
          <table className="plain" aria-label="dataset versions">
            <thead><tr><th>Version</th><th>Used as</th><th style={{ textAlign: "right" }}>Files</th><th style={{ textAlign: "right" }}>Size</th><th style={{ textAlign: "right" }}>Used by</th><th>First seen</th><th /></tr></thead>
            <tbody>
              {versions.map((v) => (
                <tr key={v.hash} data-hash={v.hash} className={v.hash === chosen ? "sel" : ""} style={v.hash === chosen ? { background: "var(--sel)" } : undefined}>
                  <td className="mono"><a href={paths.datasets(project, v.hash)} onClick={(e) => { e.preventDefault(); setParams({ d: v.hash, vs: null }, true); }}>{v.hash.slice(0, 12)}</a></td>
                  <td>{v.paths.join(", ")}</td>
                  <td className="num">{v.files.toLocaleString("en-US")}</td>
                  <td className="num">{fmtBytes(v.size)}</td>
                  <td className="num">{v.uses.length}</td>
                  <td>{fmtTime(v.first)}</td>
                  <td>{current && v.hash !== current.hash && (
                    <button className="link" onClick={() => setParams({ vs: v.hash })}>diff</button>
                  )}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {current && (other ? <DatasetDiff project={project} a={current.hash} b={other} /> : <DatasetDetail project={project} v={current} fromRun={fromRun} />)}
        </div>
      )}
    </div>
  );
}

function DatasetDetail({ project, v, fromRun }: { project: string; v: DatasetVersion; fromRun: Map<string, { id: string; stage: string }[]> }) {
  const manifest = useLoad(() => api.datasetManifest(project, v.hash), [project, v.hash]);
  return (
    <div className="card" style={{ padding: 12 }} aria-label="dataset version">
      <div className="mono small" style={{ overflowWrap: "anywhere" }}>sha256 {v.hash}</div>
      <h2 style={{ marginTop: 12 }}>Lineage</h2>
      <table className="plain" aria-label="lineage">
        <thead><tr><th>Used by</th><th>As</th><th>Led to</th></tr></thead>
        <tbody>
          {v.uses.map((u) => (
            <tr key={`${u.container}/${u.path}`} data-container={u.container}>
              <td><Link to={paths.run(project, u.container)}>{u.container}</Link> <span className="muted small">{u.kind.replace("_", " ")}</span></td>
              <td className="mono">{u.path}</td>
              <td>{(fromRun.get(u.container) ?? []).map((mv) => (
                <span key={mv.id} style={{ marginRight: 8 }}><Link to={paths.run(project, mv.id)}>{mv.id}</Link> <span className={`badge stage-${mv.stage}`}>{mv.stage}</span></span>
              ))}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Files</h2>
      {manifest.error && <Failure error={manifest.error} />}
      {manifest.data && <Manifest entries={manifest.data} />}
    </div>
  );
}

function Manifest({ entries }: { entries: ManifestEntry[] }) {
  return (
    <table className="plain" aria-label="files">
      <thead><tr><th>Path</th><th style={{ textAlign: "right" }}>Size</th><th>SHA-256</th><th>Location</th></tr></thead>
      <tbody>
        {entries.map((e) => (
          <tr key={e.file_path}><td className="mono">{e.file_path}</td><td className="num">{fmtBytes(e.size)}</td>
            <td className="mono small" title={e.file_hash}>{e.file_hash.slice(0, 16)}…</td>
            <td className="muted small" style={{ overflowWrap: "anywhere" }}>{e.metadata?.file_path ?? e.type}</td></tr>
        ))}
      </tbody>
    </table>
  );
}

export function diffManifests(a: ManifestEntry[], b: ManifestEntry[]): { path: string; change: "added" | "removed" | "changed"; before?: ManifestEntry; after?: ManifestEntry }[] {
  const A = new Map(a.map((e) => [e.file_path, e]));
  const B = new Map(b.map((e) => [e.file_path, e]));
  const out: { path: string; change: "added" | "removed" | "changed"; before?: ManifestEntry; after?: ManifestEntry }[] = [];
  for (const [p, e] of B) {
    const old = A.get(p);
    if (!old) out.push({ path: p, change: "added", after: e });
    else if (old.file_hash !== e.file_hash) out.push({ path: p, change: "changed", before: old, after: e });
  }
  for (const [p, e] of A) if (!B.has(p)) out.push({ path: p, change: "removed", before: e });
  return out.sort((x, y) => x.path.localeCompare(y.path));
}

function DatasetDiff({ project, a, b }: { project: string; a: string; b: string }) {
  // from the version picked first (a) to the one it is compared with (b)
  const both = useLoad(() => Promise.all([api.datasetManifest(project, a), api.datasetManifest(project, b)]), [project, a, b]);
  const changes = useMemo(() => (both.data ? diffManifests(both.data[0], both.data[1]) : []), [both.data]);
  if (both.error) return <Failure error={both.error} />;
  if (!both.data) return <div className="muted">Loading…</div>;
  return (
    <div className="card" style={{ padding: 12 }} aria-label="dataset diff">
      <div className="row" style={{ justifyContent: "space-between" }}>
        <b>From <span className="mono">{a.slice(0, 12)}</span> to <span className="mono">{b.slice(0, 12)}</span></b>
        <button className="link" onClick={() => setParams({ vs: null })}>back to the version</button>
      </div>
      <p className="muted small">
        {changes.filter((c) => c.change === "added").length} added · {changes.filter((c) => c.change === "removed").length} removed ·{" "}
        {changes.filter((c) => c.change === "changed").length} changed · {both.data[1].length - changes.filter((c) => c.change !== "removed").length} unchanged
      </p>
      <table className="plain" aria-label="changes">
        <thead><tr><th>Path</th><th>Change</th><th style={{ textAlign: "right" }}>Size</th></tr></thead>
        <tbody>
          {changes.map((c) => (
            <tr key={c.path} data-change={c.change}><td className="mono">{c.path}</td><td>{c.change}</td>
              <td className="num">{c.change === "changed" ? `${fmtBytes(c.before!.size)} → ${fmtBytes(c.after!.size)}` : fmtBytes((c.after ?? c.before)!.size)}</td></tr>
          ))}
        </tbody>
      </table>
      {changes.length === 0 && <div className="muted">The same files with the same content.</div>}
    </div>
  );
}
