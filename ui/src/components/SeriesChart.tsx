import { useEffect, useMemo, useRef, useState } from "react";
import { api, Buckets } from "../api";
import { Chart, Line, PALETTE, XMode } from "./Chart";

// Step → wall time, from an evenly spaced sample of the series' own points.
export async function timeMap(uuid: string, path: string, count: number): Promise<(step: number) => number> {
  const every = Math.max(1, Math.ceil(count / 2000));
  const p = await api.points(uuid, path, 0, 2001, every);
  const steps = p.steps.map(Number);
  const ts = p.timestamps;
  return (s: number) => {
    if (steps.length === 0) return 0;
    let lo = 0;
    let hi = steps.length - 1;
    if (s <= steps[0]) return ts[0];
    if (s >= steps[hi]) return ts[hi];
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (steps[mid] <= s) lo = mid;
      else hi = mid;
    }
    const f = (s - steps[lo]) / (steps[hi] - steps[lo] || 1);
    return ts[lo] + f * (ts[hi] - ts[lo]);
  };
}

export interface RunRef {
  uuid: string;
  label: string;
  color?: string;
}

// One chart: a float series of one or several runs, bucketed to the chart's width; zoom re-asks
// the store for finer buckets of the selected step range.
export function SeriesChart(props: { path: string; runs: RunRef[]; counts: number[]; xMode: XMode; smoothing: number; log: boolean; refresh: number }) {
  const [range, setRange] = useState<[number, number] | null>(null);
  const [data, setData] = useState<{ b: Buckets[]; t: ((s: number) => number)[] | null }>();
  const [error, setError] = useState<string>();
  const gen = useRef(0);
  const n = 1000;
  useEffect(() => {
    const mine = ++gen.current;
    const ctrl = new AbortController();
    const load = async () => {
      const b = await Promise.all(props.runs.map((r) => api.buckets(r.uuid, props.path, n, range?.[0], range?.[1], ctrl.signal)));
      const t = props.xMode === "step" ? null : await Promise.all(props.runs.map((r, i) => timeMap(r.uuid, props.path, props.counts[i] ?? 0)));
      if (mine === gen.current) {
        setData({ b, t });
        setError(undefined);
      }
    };
    load().catch((e: Error) => e.name !== "AbortError" && mine === gen.current && setError(e.message));
    return () => ctrl.abort();
  }, [props.path, props.runs.map((r) => r.uuid).join(","), range?.[0], range?.[1], props.xMode, props.refresh]);

  const lines: Line[] = useMemo(
    () =>
      (data?.b ?? []).map((b, i) => ({
        label: props.runs[i].label,
        color: props.runs[i].color ?? PALETTE[i % PALETTE.length],
        buckets: b,
        timeOf: data?.t?.[i],
      })),
    [data, props.runs],
  );
  if (error) return <div className="card chart"><div className="title">{props.path}</div><div className="error small">{error}</div></div>;
  if (!data) return <div className="card chart" data-chart={props.path} data-loading="1"><div className="title">{props.path}</div><div className="muted small">Loading…</div></div>;
  return (
    <Chart title={props.path} lines={lines} xMode={props.xMode} smoothing={props.smoothing} log={props.log}
      onZoom={(lo, hi) => setRange([lo, hi])} onReset={() => setRange(null)} note={range ? "zoomed: double-click to reset" : undefined} />
  );
}

// Mounts its child once it comes near the viewport: a run with hundreds of series stays quick.
export function Lazy({ children, height = 260 }: { children: React.ReactNode; height?: number }) {
  const ref = useRef<HTMLDivElement>(null);
  const [seen, setSeen] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el || seen) return;
    const io = new IntersectionObserver((es) => es.some((e) => e.isIntersecting) && setSeen(true), { rootMargin: "600px" });
    io.observe(el);
    return () => io.disconnect();
  }, [seen]);
  return <div ref={ref} style={seen ? undefined : { minHeight: height }}>{seen ? children : null}</div>;
}
