import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import { api, DriftRow, Evaluation, GateDecision, RegistryEvent } from "../api";
import { Failure } from "../components/Failure";
import { GateTable } from "../components/GateTable";
import { fmtNumber, fmtTime, quote } from "../format";
import { useLoad } from "../hooks";
import { Link, paths, setParams, useParams, useTitle } from "../router";
import { Column } from "../api";
import { PALETTE } from "../components/Chart";

interface Version {
  id: string;
  model: string;
  stage: string;
  aliases: string[];
  created: number;
}

function versionsOf(r: { ids: string[]; columns: Record<string, Column> }): Version[] {
  const col = (p: string) => r.columns[p]?.values ?? [];
  return r.ids.map((id, i) => ({
    id,
    model: String(col("sys/model_id")[i] ?? ""),
    stage: String(col("sys/stage")[i] ?? "none"),
    aliases: (col("sys/aliases")[i] as string[] | null) ?? [],
    created: Number(col("sys/creation_time")[i] ?? 0),
  }));
}

function StageBadge({ stage }: { stage: string }) {
  return <span className={`badge stage-${stage}`}>{stage}</span>;
}

export function Models({ project }: { project: string }) {
  useTitle(`Models · ${project}`);
  const data = useLoad(async (signal) => {
    const [models, versions] = await Promise.all([
      api.tableWindow(project, { kind: "model", columns: ["sys/name", "sys/creation_time", "sys/policy/require_gate"], sort_by: "sys/id", ascending: true }, signal),
      api.tableWindow(project, { kind: "model_version", columns: ["sys/model_id", "sys/stage", "sys/aliases", "sys/creation_time"], sort_by: "sys/creation_time", ascending: true }, signal),
    ]);
    return { models, versions: versionsOf(versions) };
  }, [project]);
  if (data.error) return <div className="page"><Failure error={data.error} retry={data.reload} /></div>;
  if (!data.data) return <div className="page muted">Loading models…</div>;
  const { models, versions } = data.data;
  return (
    <div className="page">
      <h1>Models</h1>
      {models.ids.length === 0 ? (
        <div className="empty">
          No models in <b>{project}</b> yet. Register a trained run as a version:
          <pre style={{ textAlign: "left", display: "inline-block", marginTop: 12 }}>
{`mv = naiad.register_model_version(run, model="${project.slice(0, 3).toUpperCase()}-CLS",
                                  weights="model/weights", training_data="train.csv")`}
          </pre>
        </div>
      ) : (
        <table className="plain" aria-label="models">
          <thead>
            <tr><th>Model</th><th>Name</th><th style={{ textAlign: "right" }}>Versions</th><th>Production</th><th>Staging</th><th>Aliases</th><th>Promotion</th><th>Created</th></tr>
          </thead>
          <tbody>
            {models.ids.map((id, i) => {
              const mine = versions.filter((v) => v.model === id);
              const holders = (stage: string) => mine.filter((v) => v.stage === stage).map((v) => v.id);
              return (
                <tr key={id} data-model={id}>
                  <td><Link to={paths.model(project, id)}>{id}</Link></td>
                  <td>{String(models.columns["sys/name"]?.values[i] ?? "")}</td>
                  <td className="num">{mine.length}</td>
                  <td>{holders("production").map((v) => <Link key={v} to={paths.run(project, v)}>{v}</Link>)}</td>
                  <td>{holders("staging").join(", ")}</td>
                  <td>{mine.flatMap((v) => v.aliases.map((a) => <span key={a} className="tag" title={v.id}>{a} → {v.id.split("-").pop()}</span>))}</td>
                  <td>{models.columns["sys/policy/require_gate"]?.values[i] ? <span className="badge">gate required</span> : <span className="muted">open</span>}</td>
                  <td>{fmtTime(Number(models.columns["sys/creation_time"]?.values[i] ?? 0)).slice(0, 10)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

const TABS = ["versions", "monitoring", "history", "gate"] as const;

export function ModelPage({ project, model }: { project: string; model: string }) {
  useTitle(model);
  const params = useParams();
  const tab = (TABS as readonly string[]).includes(params.get("tab") ?? "") ? params.get("tab")! : "versions";
  const versions = useLoad(
    (signal) => api.tableWindow(project, { kind: "model_version", query: `sys/model_id = ${quote(model)}`, columns: ["sys/model_id", "sys/stage", "sys/aliases", "sys/creation_time", "run/id"], sort_by: "sys/creation_time", ascending: false }, signal),
    [project, model],
  );
  const events = useLoad(() => api.registryEvents(project, model), [project, model]);
  const decisions = useLoad(() => api.gateDecisions(model), [model]);
  const err = versions.error ?? events.error;
  if (err) return <div className="page"><Failure error={err} /></div>;
  return (
    <div className="page">
      <div className="runhead"><h1>{model}</h1></div>
      <div className="tabs" role="tablist">
        {TABS.map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "on" : ""} onClick={() => setParams({ tab: t === "versions" ? null : t })}>
            {t === "gate" ? "Gate decisions" : t[0].toUpperCase() + t.slice(1)}
          </button>
        ))}
      </div>
      {tab === "versions" && versions.data && <VersionsTab project={project} data={versions.data} decisions={decisions.data ?? []} />}
      {tab === "history" && events.data && <HistoryTab events={events.data} project={project} />}
      {tab === "monitoring" && <MonitoringTab project={project} model={model} events={events.data ?? []} />}
      {tab === "gate" && (decisions.error ? <Failure error={decisions.error} /> : <GateTable project={project} decisions={decisions.data ?? []} />)}
    </div>
  );
}

function VersionsTab({ project, data, decisions }: { project: string; data: { ids: string[]; columns: Record<string, Column> }; decisions: GateDecision[] }) {
  const versions = versionsOf(data);
  if (versions.length === 0) return <div className="empty">No versions yet: <code>naiad.register_model_version(run, model=…)</code> makes one.</div>;
  const runs = data.columns["run/id"]?.values ?? [];
  return (
    <table className="plain" aria-label="versions">
      <thead><tr><th>Version</th><th>Stage</th><th>Aliases</th><th>Trained by</th><th>Last gate decision</th><th>Created</th></tr></thead>
      <tbody>
        {versions.map((v, i) => {
          const last = [...decisions].reverse().find((d) => d.candidate === v.id);
          return (
            <tr key={v.id} data-version={v.id}>
              <td><Link to={paths.run(project, v.id)}>{v.id}</Link></td>
              <td><StageBadge stage={v.stage} /></td>
              <td>{v.aliases.map((a) => <span key={a} className="tag">{a}</span>)}</td>
              <td>{runs[i] ? <Link to={paths.run(project, String(runs[i]))}>{String(runs[i])}</Link> : ""}</td>
              <td>{last ? <><span className={`verdict-${last.verdict}`}>{last.verdict}</span> <span className="muted small">{fmtTime(last.time)}</span></> : <span className="muted">none</span>}</td>
              <td>{fmtTime(v.created)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

// The stage of every version at time T, replayed from the append-only history.
export function stagesAt(events: RegistryEvent[], t: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of events) if (e.kind === "stage" && e.at <= t) out.set(e.version, e.after ?? "none");
  return out;
}

function describe(e: RegistryEvent): string {
  if (e.kind === "stage") return `${e.version}: ${e.before ?? "none"} → ${e.after ?? "none"}`;
  if (e.kind === "alias") return `alias ${e.name}: ${e.before ?? "nobody"} → ${e.after ?? "nobody"}`;
  return `policy ${e.name}: ${e.before ?? "unset"} → ${e.after ?? "unset"}`;
}

function HistoryTab({ events, project }: { events: RegistryEvent[]; project: string }) {
  const params = useParams();
  const at = params.get("at");
  const t = at ? Date.parse(at) / 1000 : NaN;
  const state = Number.isFinite(t) ? stagesAt(events, t) : null;
  const production = state ? [...state.entries()].filter(([, s]) => s === "production").map(([v]) => v) : [];
  return (
    <>
      <div className="row" style={{ marginBottom: 12 }}>
        <label className="row">In production at
          <input type="datetime-local" step="0.001" aria-label="production at" value={at ?? ""} onChange={(e) => setParams({ at: e.target.value })} />
        </label>
        {state && (
          <span aria-label="production then">
            {production.length ? production.map((v) => <Link key={v} to={paths.run(project, v)}>{v}</Link>) : <span className="muted">no version was in production then</span>}
          </span>
        )}
      </div>
      {events.length === 0 ? (
        <div className="empty">No stage or alias changes yet.</div>
      ) : (
        <table className="plain" aria-label="history">
          <thead><tr><th>When</th><th>Change</th><th>Who</th><th>Why</th></tr></thead>
          <tbody>
            {[...events].reverse().map((e) => (
              <tr key={e.id}><td>{fmtTime(e.at)}</td><td>{describe(e)}</td><td>{e.actor}</td><td>{e.reason}</td></tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function MonitoringTab({ project, model, events }: { project: string; model: string; events: RegistryEvent[] }) {
  const timeline = useLoad(() => api.timeline(model), [model]);
  const drift = useLoad(() => api.drift(model), [model]);
  const params = useParams();
  if (timeline.error) return <Failure error={timeline.error} retry={timeline.reload} />;
  if (!timeline.data) return <div className="muted">Loading evaluations…</div>;
  const all = timeline.data.evaluations;
  const rule = timeline.data.rule;
  if (all.length === 0) {
    return <div className="empty">No evaluations of {model} yet. <code>naiad monitor run --model {model} --data DATA --target label</code> records one (monthly, from cron or CI).</div>;
  }
  // a gate evaluates candidates too; "in production" keeps what production itself scored
  const onlyProduction = params.get("evals") === "production";
  const ofProduction = all.filter((e) => e.version === e.production_then);
  const evs = onlyProduction ? ofProduction : all;
  return (
    <>
      <div className="row small" style={{ marginBottom: 8, justifyContent: "space-between" }}>
        <span className="muted" aria-label="rule">
          Degradation rule: {all[all.length - 1].metric}
          {rule.floor !== null ? ` below ${rule.floor}` : ""}
          {` or more than ${rule.sigmas}σ of the evaluation's own error below ${rule.reference !== null ? rule.reference : "the version's first evaluation"}`}
          {`; at least ${rule.min_rows} rows`}.
        </span>
        <select aria-label="evaluations shown" value={onlyProduction ? "production" : "all"} onChange={(e) => setParams({ evals: e.target.value === "all" ? null : e.target.value })}>
          <option value="all">Every evaluation ({all.length})</option>
          <option value="production">Of the version in production then ({ofProduction.length})</option>
        </select>
      </div>
      {evs.length === 0
        ? <div className="empty">No evaluation was of the version in production at the time. <button className="link" onClick={() => setParams({ evals: null })}>Show every evaluation</button></div>
        : <TimelineChart evaluations={evs} events={events} />}
      <h2>Data drift</h2>
      {drift.error ? <Failure error={drift.error} /> : drift.data ? <DriftHeatmap rows={drift.data} /> : <div className="muted">Loading…</div>}
      <h2>Evaluations</h2>
      <table className="plain" aria-label="evaluations" >
        <thead><tr><th>When</th><th>Run</th><th>Version</th><th>In production then</th><th>Data</th><th style={{ textAlign: "right" }}>Rows</th><th>Value [95% CI]</th><th>Verdict</th><th>Drift</th></tr></thead>
        <tbody>
          {[...evs].reverse().map((e) => (
            <tr key={e.run} data-run={e.run}>
              <td>{fmtTime(e.time)}</td>
              <td><Link to={paths.run(project, e.run)}>{e.run}</Link></td>
              <td>{e.version}</td>
              <td>{e.production_then ?? <span className="muted">none</span>}</td>
              <td title={e.dataset_hash}>{e.dataset_role} <span className="muted mono small">{e.dataset_hash.slice(0, 8)}</span></td>
              <td className="num">{e.n}</td>
              <td className="mono">{e.value === null ? "" : fmtNumber(e.value)} {e.ci_low !== null && e.ci_high !== null ? `[${fmtNumber(e.ci_low)}, ${fmtNumber(e.ci_high)}]` : ""}</td>
              <td title={e.reason}><b className={`status-${e.status.split(" ")[0]}`}>{e.status}</b></td>
              <td>{e.drift ?? ""}{e.drift_share !== null && e.drift ? <span className="muted small"> ({Math.round(e.drift_share * 100)}% of columns)</span> : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

// The metric over time with its confidence interval as a band, degraded evaluations in red, and a
// vertical line where production changed hands.
function TimelineChart({ evaluations, events }: { evaluations: Evaluation[]; events: RegistryEvent[] }) {
  const box = useRef<HTMLDivElement>(null);
  const params = useParams();
  const changes = useMemo(() => events.filter((e) => e.kind === "stage" && (e.after === "production" || e.before === "production")), [events]);
  // by time, or one evaluation after the other (labelled by dataset) — the default when they all fall
  // within a day, as when months are replayed at once
  const versions = useMemo(() => [...new Set(evaluations.map((e) => e.version))], [evaluations]);
  const sameDay = evaluations.length > 1 && evaluations[evaluations.length - 1].time - evaluations[0].time < 86400;
  const bySequence = (params.get("x") ?? (sameDay ? "sequence" : "time")) === "sequence";
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const times = evaluations.map((e) => e.time);
    const xs = bySequence ? evaluations.map((_e, i) => i) : times;
    const xOf = (t: number) => {
      if (!bySequence) return t;
      const after = times.findIndex((x) => x >= t);
      return (after === -1 ? times.length : after) - 0.5;
    };
    const every = Math.max(1, Math.ceil(evaluations.length / Math.max(1, Math.floor((el.clientWidth || 800) / 110))));
    const span = bySequence ? 0.7 : Math.max(86400 * 7, (xs[xs.length - 1] - xs[0]) * 0.05); // a lone evaluation gets a week either side
    const css = getComputedStyle(document.documentElement);
    const color = (v: string) => css.getPropertyValue(v).trim();
    const axis = { stroke: color("--fg2"), grid: { stroke: color("--line"), width: 1 }, ticks: { stroke: color("--line"), width: 1 } };
    const u = new uPlot(
      {
        width: el.clientWidth || 800,
        height: 260,
        legend: { show: false },
        scales: { x: { time: !bySequence, range: () => [xs[0] - span, xs[xs.length - 1] + span] } },
        // one line per version: a line joins evaluations of the same model, never two different ones
        series: [{}, ...versions.map((v, k) => ({ label: v, stroke: PALETTE[k % PALETTE.length], width: 2, spanGaps: true,
          points: { show: true, size: 7, fill: PALETTE[k % PALETTE.length] } }))],
        axes: [
          bySequence
            ? { ...axis, splits: () => xs.filter((i) => i % every === 0), values: (_u, vals) => vals.map((v) => shortLabel(evaluations[Math.round(v)]?.dataset_role ?? "")) }
            : axis,
          { ...axis, size: 56, values: (_u, vals) => vals.map((v) => (v === null ? "" : fmtNumber(v))) },
        ],
        hooks: {
          draw: [
            (u) => {
              const ctx = u.ctx;
              ctx.save();
              changes.filter((c) => c.after === "production").forEach((c, k) => {
                const x = u.valToPos(xOf(c.at), "x", true);
                if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
                ctx.strokeStyle = color("--ok");
                ctx.setLineDash([4, 4]);
                ctx.beginPath();
                ctx.moveTo(x, u.bbox.top);
                ctx.lineTo(x, u.bbox.top + u.bbox.height);
                ctx.stroke();
                ctx.fillStyle = color("--ok");
                ctx.font = `${11 * devicePixelRatio}px system-ui`;
                ctx.fillText(`${c.version.split("-").pop()} → production`, x + 4, u.bbox.top + (10 + (k % 3) * 12) * devicePixelRatio);
              });
              ctx.setLineDash([]);
              ctx.lineWidth = 1.5 * devicePixelRatio;
              evaluations.forEach((e, i) => { // each evaluation's own interval
                if (e.ci_low === null || e.ci_high === null) return;
                ctx.strokeStyle = PALETTE[versions.indexOf(e.version) % PALETTE.length];
                const x = u.valToPos(xs[i], "x", true);
                const lo = u.valToPos(e.ci_low, "y", true);
                const hi = u.valToPos(e.ci_high, "y", true);
                const cap = 4 * devicePixelRatio;
                ctx.beginPath();
                ctx.moveTo(x, lo); ctx.lineTo(x, hi);
                ctx.moveTo(x - cap, lo); ctx.lineTo(x + cap, lo);
                ctx.moveTo(x - cap, hi); ctx.lineTo(x + cap, hi);
                ctx.stroke();
              });
              evaluations.forEach((e, i) => {
                if (e.status !== "degraded" || e.value === null) return;
                ctx.fillStyle = color("--bad");
                ctx.beginPath();
                ctx.arc(u.valToPos(xs[i], "x", true), u.valToPos(e.value, "y", true), 6 * devicePixelRatio, 0, 2 * Math.PI);
                ctx.fill();
              });
              ctx.restore();
            },
          ],
        },
      },
      [xs, ...versions.map((v) => evaluations.map((e) => (e.version === v ? e.value : null)))],
      el,
    );
    const ro = new ResizeObserver(() => u.setSize({ width: el.clientWidth, height: 260 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
    };
  }, [evaluations, changes, bySequence, versions]);
  return (
    <div className="card chart" aria-label="timeline" data-x={bySequence ? "sequence" : "time"} data-points={evaluations.length} data-degraded={evaluations.filter((e) => e.status === "degraded").length}>
      <div className="title">
        <span>{evaluations[evaluations.length - 1].metric} over time</span>
        <span className="muted row">
          whiskers: 95% CI · red: degraded · dashed: a version enters production
          <select aria-label="timeline axis" value={bySequence ? "sequence" : "time"} onChange={(e) => setParams({ x: e.target.value })}>
            <option value="time">by time</option>
            <option value="sequence">one after the other</option>
          </select>
        </span>
      </div>
      <div ref={box} />
      <div className="legend" style={{ marginTop: 4 }}>
        {versions.map((v, k) => <span key={v}><i style={{ background: PALETTE[k % PALETTE.length] }} />{v}</span>)}
      </div>
    </div>
  );
}

// "production-2012-04" → "2012-04": the shared prefix of dataset roles says nothing on an axis
function shortLabel(role: string): string {
  return role.replace(/^(production|prod|serving|evaluation|holdout)[-_ ]?/i, "") || role;
}

function DriftHeatmap({ rows }: { rows: DriftRow[] }) {
  const [pick, setPick] = useState<{ run: string; column: string } | null>(null);
  const runs = [...new Map(rows.map((r) => [r.run, r])).values()].sort((a, b) => a.time - b.time);
  const columns = [...new Set(rows.map((r) => r.column))].sort();
  const cell = new Map(rows.map((r) => [`${r.run}\u0000${r.column}`, r]));
  // effect size drawn at full colour: Jensen–Shannon lies in [0, 1] and normalized Wasserstein (in standard
  // deviations) passes 1 for big shifts; both have their floor near 0.1, so 0.5 is already a large change
  const FULL = 0.5;
  if (rows.length === 0) return <div className="empty">No drift results: the evaluated versions have no training profile (register them with <code>training_data=</code>).</div>;
  return (
    <div className="split">
      <div style={{ overflow: "auto", maxHeight: 560 }}>
        <table className="heat" aria-label="drift heat-map">
          <thead>
            <tr><th>column</th>{runs.map((r) => <th key={r.run} title={fmtTime(r.time)}>{r.run.split("-").pop()}</th>)}</tr>
          </thead>
          <tbody>
            {columns.map((c) => (
              <tr key={c}>
                <th className="mono">{c}</th>
                {runs.map((r) => {
                  const d = cell.get(`${r.run}\u0000${c}`);
                  const e = d?.effect_size ?? null;
                  const on = pick?.run === r.run && pick.column === c;
                  return (
                    <td key={r.run} data-run={r.run} data-column={c} className={`${d?.verdict === "drift" ? "drifted" : ""}${on ? " on" : ""}`}
                      style={{ background: e === null ? "var(--bg2)" : `color-mix(in srgb, var(--bad) ${Math.round(Math.min(1, e / FULL) * 85)}%, var(--bg))` }}
                      title={d ? `${c} in ${r.run}: ${d.verdict}; ${d.effect} ${e === null ? "—" : fmtNumber(e)}, ${d.test} p(adj) ${d.p_adjusted === null ? "—" : fmtNumber(d.p_adjusted)}` : "not measured"}
                      onClick={() => setPick({ run: r.run, column: c })}>
                      {e === null ? "" : e.toFixed(2)}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
        <div className="muted small" style={{ marginTop: 6 }}>Columns: evaluation runs, oldest first. Cells: effect size (normalized Wasserstein distance for numbers, Jensen–Shannon distance for categories); outlined: flagged as drift (significant and large). Click a cell for its histograms.</div>
      </div>
      {pick ? <HistogramView run={pick.run} column={pick.column} /> : <div className="empty small">Pick a cell to compare that column's distribution with the training data.</div>}
    </div>
  );
}

function HistogramView({ run, column }: { run: string; column: string }) {
  const h = useLoad(() => api.histogram(run, column), [run, column]);
  if (h.error) return <Failure error={h.error} />;
  if (!h.data) return <div className="muted">Loading…</div>;
  const d = h.data;
  const labels = d.values ? d.values.map(fmtNumber)
    : d.kind === "numeric" ? (d.edges ?? []).slice(0, -1).map((e, i) => `${fmtNumber(e)}–${fmtNumber(d.edges![i + 1])}`) : d.labels ?? [];
  const top = Math.max(0.001, ...d.reference, ...d.current);
  const W = 440, H = 220, pad = 28;
  const bw = (W - pad) / Math.max(1, labels.length);
  return (
    <div className="card" style={{ padding: 12 }} aria-label="histograms" data-bins={labels.length}>
      <div className="row" style={{ justifyContent: "space-between" }}>
        <b className="mono">{column}</b>
        <span className="legend"><span><i style={{ background: "var(--fg3)" }} />training ({d.reference_rows.toLocaleString("en-US")})</span><span><i style={{ background: "var(--bad)" }} />{run} ({d.current_rows.toLocaleString("en-US")})</span></span>
      </div>
      <svg width={W} height={H + 40} role="img" aria-label={`histograms of ${column}`}>
        {labels.map((l, i) => {
          const x = pad + i * bw;
          const hr = (d.reference[i] / top) * H;
          const hc = (d.current[i] / top) * H;
          return (
            <g key={i}>
              <rect x={x + 1} y={H - hr} width={bw / 2 - 1} height={hr} fill="var(--fg3)"><title>{`${l}: training ${(d.reference[i] * 100).toFixed(1)}%`}</title></rect>
              <rect x={x + bw / 2} y={H - hc} width={bw / 2 - 1} height={hc} fill="var(--bad)"><title>{`${l}: ${run} ${(d.current[i] * 100).toFixed(1)}%`}</title></rect>
            </g>
          );
        })}
        <line x1={pad} x2={W} y1={H} y2={H} stroke="var(--line)" />
        <text x={0} y={10} style={{ fontSize: 10, fill: "var(--fg2)" }}>{(top * 100).toFixed(0)}%</text>
        {labels.length > 0 && <text x={pad} y={H + 14} style={{ fontSize: 10, fill: "var(--fg2)" }}>{labels[0]}</text>}
        {labels.length > 1 && <text x={W} y={H + 14} textAnchor="end" style={{ fontSize: 10, fill: "var(--fg2)" }}>{labels[labels.length - 1]}</text>}
      </svg>
    </div>
  );
}
