import { useEffect, useRef } from "react";
import uPlot from "uplot";
import { Buckets } from "../api";
import { fmtNumber } from "../format";

export type XMode = "step" | "time" | "relative";

export interface Line {
  label: string;
  color: string;
  buckets: Buckets;
  timeOf?: (step: number) => number; // wall time of a step, for the time axes
}

export const PALETTE = ["#2f6fde", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#a61e4d", "#5c940d", "#d9480f", "#1864ab"];

// Exponential moving average with TensorBoard's debiasing: the first points are not pulled to zero.
export function smooth(ys: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return ys;
  let last = 0;
  let n = 0;
  return ys.map((y) => {
    if (y === null || !Number.isFinite(y)) return y;
    last = last * weight + (1 - weight) * y;
    n++;
    return last / (1 - Math.pow(weight, n));
  });
}

function xsOf(line: Line, mode: XMode, t0: number): number[] {
  const steps = line.buckets.step_hi;
  if (mode === "step" || !line.timeOf) return steps;
  const ts = steps.map((s) => line.timeOf!(s));
  return mode === "time" ? ts : ts.map((t) => t - t0);
}

export function Chart(props: {
  title: string;
  lines: Line[];
  xMode: XMode;
  smoothing: number;
  log: boolean;
  height?: number;
  onZoom?: (stepMin: number, stepMax: number) => void;
  onReset?: () => void;
  note?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const { lines, xMode, smoothing, log } = props;
  const single = lines.length === 1;
  const bucketed = lines.some((l) => l.buckets.count.some((c) => c > 1));
  const drawn = lines.reduce((n, l) => n + l.buckets.count.length, 0);
  const total = lines.reduce((n, l) => n + l.buckets.count.reduce((a, b) => a + b, 0), 0);

  useEffect(() => {
    const el = box.current;
    if (!el || lines.length === 0) return;
    const t0 = Math.min(...lines.map((l) => (l.timeOf && l.buckets.step_hi.length ? l.timeOf(l.buckets.step_lo[0]) : Infinity)));
    const pos = (v: number) => (log && !(v > 0) ? null : v);
    let data: uPlot.AlignedData;
    const series: uPlot.Series[] = [{ label: xMode === "step" ? "step" : xMode === "time" ? "time" : "seconds" }];
    const bands: uPlot.Band[] = [];
    if (single) {
      const l = lines[0];
      const ys = smooth(l.buckets.last.map(pos), smoothing);
      const cols: (number | null)[][] = [ys];
      series.push({ label: l.label, stroke: l.color, width: 1.5, spanGaps: true, points: { show: l.buckets.count.length < 60 } });
      if (bucketed) {
        cols.push(l.buckets.max.map(pos), l.buckets.min.map(pos));
        series.push({ label: "max", stroke: "transparent", points: { show: false } }, { label: "min", stroke: "transparent", points: { show: false } });
        bands.push({ series: [2, 3], fill: l.color + "2a" });
      }
      data = [xsOf(l, xMode, t0), ...cols] as uPlot.AlignedData;
    } else {
      const tables = lines.map((l) => [xsOf(l, xMode, t0), smooth(l.buckets.last.map(pos), smoothing)] as uPlot.AlignedData);
      data = uPlot.join(tables);
      for (const l of lines) series.push({ label: l.label, stroke: l.color, width: 1.5, spanGaps: true, points: { show: false } });
    }
    const axisColor = getComputedStyle(document.documentElement).getPropertyValue("--fg2").trim() || "#666";
    const gridColor = getComputedStyle(document.documentElement).getPropertyValue("--line").trim() || "#ddd";
    const axis = { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor, width: 1 }, font: "11px system-ui" };
    const opts: uPlot.Options = {
      width: el.clientWidth || 400,
      height: props.height ?? 220,
      series,
      bands,
      legend: { show: false },
      scales: { x: { time: xMode === "time" }, y: log ? { distr: 3 } : {} },
      axes: [
        { ...axis, values: xMode === "time" ? undefined : (_u, vals) => vals.map((v) => fmtNumber(v)) },
        { ...axis, size: 56, values: (_u, vals) => vals.map((v) => (v === null ? "" : fmtNumber(v))) },
      ],
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 4) return;
            const lo = u.posToVal(u.select.left, "x");
            const hi = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            if (xMode === "step" && props.onZoom) props.onZoom(lo, hi);
            else u.setScale("x", { min: lo, max: hi });
          },
        ],
      },
    };
    plot.current?.destroy();
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: el.clientWidth, height: props.height ?? 220 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lines, xMode, smoothing, log, props.height]);

  return (
    <div className="card chart" data-chart={props.title} data-points={drawn} data-total={total}>
      <div className="title">
        <span title={props.title}>{props.title}</span>
        <span className="muted">
          {total.toLocaleString("en-US")} points{bucketed ? ` · ${drawn.toLocaleString("en-US")} buckets, min–max band` : ""}
          {props.note ? ` · ${props.note}` : ""}
        </span>
      </div>
      <div ref={box} onDoubleClick={() => props.onReset?.()} title="Drag to zoom, double-click to reset" />
    </div>
  );
}
