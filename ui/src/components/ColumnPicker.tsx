import { useMemo, useState } from "react";
import { FieldType } from "../api";

// Any field as a column; a float series also as its min or max.
export function ColumnPicker(props: { fields: Record<string, FieldType>; columns: string[]; onChange: (cols: string[]) => void; onClose: () => void }) {
  const [filter, setFilter] = useState("");
  const shown = useMemo(() => {
    const f = filter.toLowerCase();
    return Object.entries(props.fields).filter(([p]) => p.toLowerCase().includes(f)).slice(0, 400);
  }, [filter, props.fields]);
  const on = new Set(props.columns);
  function toggle(col: string) {
    props.onChange(on.has(col) ? props.columns.filter((c) => c !== col) : [...props.columns, col]);
  }
  return (
    <div className="popover picker" style={{ right: 16, top: 48 }} role="dialog" aria-label="columns">
      <div className="row">
        <input autoFocus placeholder="Search field paths" aria-label="search columns" value={filter} onChange={(e) => setFilter(e.target.value)} style={{ flex: 1 }}
          onKeyDown={(e) => e.key === "Escape" && props.onClose()} />
        <button onClick={props.onClose}>Done</button>
      </div>
      <div className="list">
        {shown.length === 0 && <div className="muted small">No field matches “{filter}”.</div>}
        {shown.map(([path, type]) => (
          <div key={path}>
            <label>
              <input type="checkbox" checked={on.has(path)} onChange={() => toggle(path)} />
              {path}
              <span className="t">{type === "FloatSeries" ? "series · last" : type}</span>
            </label>
            {type === "FloatSeries" && (
              <div className="row" style={{ paddingLeft: 24 }}>
                {(["min", "max"] as const).map((a) => (
                  <label key={a} style={{ fontSize: 12 }}>
                    <input type="checkbox" checked={on.has(`${path}:${a}`)} onChange={() => toggle(`${path}:${a}`)} />
                    {a}
                  </label>
                ))}
              </div>
            )}
          </div>
        ))}
      </div>
    </div>
  );
}
