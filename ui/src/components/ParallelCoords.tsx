import { fmtNumber } from "../format";

export interface PcRun {
  id: string;
  color: string;
  values: Record<string, number | string | null>;
}

// Parameters as vertical axes, the chosen metric last; one polyline per run, coloured by the metric.
export function ParallelCoords({ axes, runs, metric }: { axes: string[]; runs: PcRun[]; metric: string }) {
  const all = [...axes, metric];
  const width = Math.max(480, all.length * 150);
  const height = 320;
  const top = 36;
  const bottom = height - 24;
  const x = (i: number) => 60 + (i * (width - 120)) / Math.max(1, all.length - 1);
  const scales = all.map((a) => {
    const vals = runs.map((r) => r.values[a]).filter((v) => v !== null && v !== undefined);
    if (vals.every((v) => typeof v === "number")) {
      const nums = vals as number[];
      const lo = Math.min(...nums);
      const hi = Math.max(...nums);
      return { kind: "num" as const, lo, hi, y: (v: number) => (hi === lo ? (top + bottom) / 2 : bottom - ((v - lo) / (hi - lo)) * (bottom - top)) };
    }
    const cats = [...new Set(vals.map(String))].sort();
    return { kind: "cat" as const, cats, y: (v: string) => (cats.length <= 1 ? (top + bottom) / 2 : bottom - (cats.indexOf(v) / (cats.length - 1)) * (bottom - top)) };
  });
  const m = scales[scales.length - 1];
  const color = (r: PcRun) => {
    const v = r.values[metric];
    if (m.kind !== "num" || typeof v !== "number" || m.hi === m.lo) return r.color;
    const t = (v - m.lo) / (m.hi - m.lo);
    return `hsl(${220 - t * 200} 70% 50%)`;
  };
  const yOf = (i: number, v: number | string | null) => {
    if (v === null || v === undefined) return null;
    const s = scales[i];
    return s.kind === "num" ? s.y(Number(v)) : s.y(String(v));
  };
  return (
    <div className="pc card" style={{ overflowX: "auto", padding: 8 }}>
      <svg width={width} height={height} role="img" aria-label="parallel coordinates" data-lines={runs.length}>
        {all.map((a, i) => {
          const s = scales[i];
          return (
            <g key={a}>
              <line className="axis" x1={x(i)} x2={x(i)} y1={top} y2={bottom} strokeWidth={1.5} />
              <text x={x(i)} y={14} textAnchor="middle" style={{ fontWeight: a === metric ? 700 : 400 }}>{a.length > 24 ? "…" + a.slice(-23) : a}</text>
              {s.kind === "num" ? (
                <>
                  <text x={x(i) + 4} y={top + 4}>{fmtNumber(s.hi)}</text>
                  <text x={x(i) + 4} y={bottom}>{fmtNumber(s.lo)}</text>
                </>
              ) : (
                s.cats.map((c) => <text key={c} x={x(i) + 4} y={s.y(c) + 4}>{c}</text>)
              )}
            </g>
          );
        })}
        {runs.map((r) => {
          const pts = all.map((a, i) => [x(i), yOf(i, r.values[a])] as const).filter(([, y]) => y !== null);
          return (
            <polyline key={r.id} data-run={r.id} fill="none" stroke={color(r)} strokeWidth={2} opacity={0.85} points={pts.map(([px, py]) => `${px},${py}`).join(" ")}>
              <title>{r.id}</title>
            </polyline>
          );
        })}
      </svg>
    </div>
  );
}
