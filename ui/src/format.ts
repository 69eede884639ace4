import { Field, num } from "./api";

export function fmtNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return Number(v.toPrecision(5)).toString();
}

export function fmtTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(epochSeconds: number): string {
  const s = Date.now() / 1000 - epochSeconds;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 86400 * 30) return `${Math.floor(s / 86400)} days ago`;
  return fmtTime(epochSeconds).slice(0, 10);
}

export function fmtBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export type Agg = "last" | "min" | "max";

// A column is a field path, with ":min" or ":max" for a float series' extremes.
export function splitColumn(col: string): [string, Agg] {
  const m = /^(.*):(min|max)$/.exec(col);
  return m ? [m[1], m[2] as Agg] : [col, "last"];
}

export function cellValue(f: Field | undefined, agg: Agg = "last"): number | string | boolean | null {
  if (!f) return null;
  if (f.type === "FloatSeries" && agg !== "last") return num(agg === "min" ? f.min : f.max);
  switch (f.type) {
    case "Float":
    case "Integer":
    case "Datetime":
    case "FloatSeries":
      return num(f.value);
    case "Boolean":
      return Boolean(f.value);
    case "StringSet":
      return (f.value as string[]).join(", ");
    case "String":
    case "StringSeries":
      return (f.value as string) ?? null;
    case "File":
      return fileName(f.value as FileRef | null);
    default:
      return f.type;
  }
}

export function cellText(f: Field | undefined, agg: Agg = "last"): string {
  const v = cellValue(f, agg);
  if (v === null) return "";
  if (f?.type === "Datetime" && typeof v === "number") return fmtTime(v);
  if (typeof v === "number") return fmtNumber(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  return v;
}

export interface FileRef {
  hash: string;
  size: number;
  ext?: string | null;
  name?: string | null;
}

export function fileName(ref: FileRef | null, fallback = "file"): string {
  if (!ref) return "";
  if (ref.name) return ref.name;
  return ref.ext ? `${fallback}.${ref.ext}` : fallback;
}

export const STATES = ["running", "finished", "failed", "crashed"] as const;

// A string as a query-language literal: "double-quoted", with \ and " escaped.
export function quote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
