import { setParams } from "../router";
import { XMode } from "./Chart";

// The charts' options (filter, x axis, smoothing, log scale), kept in the URL: a run's charts and a comparison's.
export function ChartOptions({ xMode, smoothing, log, filter }: { xMode: XMode; smoothing: number; log: boolean; filter: string }) {
  return (
    <div className="chartopts">
      <input aria-label="filter charts" placeholder="Filter charts" value={filter} onChange={(e) => setParams({ filter: e.target.value })} />
      <label>
        x axis
        <select aria-label="x axis" value={xMode} onChange={(e) => setParams({ x: e.target.value === "step" ? null : e.target.value })}>
          <option value="step">step</option>
          <option value="time">wall time</option>
          <option value="relative">relative time</option>
        </select>
      </label>
      <label>
        smoothing
        <input type="range" aria-label="smoothing" min={0} max={0.99} step={0.01} value={smoothing} onChange={(e) => setParams({ smooth: e.target.value === "0" ? null : e.target.value })} />
        <span className="mono" style={{ width: 32 }}>{smoothing.toFixed(2)}</span>
      </label>
      <label>
        <input type="checkbox" aria-label="log scale" checked={log} onChange={(e) => setParams({ log: e.target.checked ? "1" : null })} /> log scale
      </label>
    </div>
  );
}
