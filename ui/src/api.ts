// The UI's only door to naiad: the public /api/v1, with its one JSON error envelope.

export const API = "/api/v1";

export type FieldType =
  | "Float" | "Integer" | "Boolean" | "String" | "Datetime" | "StringSet"
  | "FloatSeries" | "StringSeries" | "FileSeries" | "File" | "FileSet" | "Artifact";

export interface Field {
  type: FieldType;
  value: unknown;
  count?: number;
  min?: number | string | null;
  max?: number | string | null;
}

export type Row = Record<string, Field>;

export interface Table {
  columns: string[];
  ids: string[];
  rows: Row[];
}

export interface ProjectSummary {
  id: number;
  name: string;
  key: string;
  created: number;
  runs: number;
  models: number;
  last_activity: number | null;
}

export interface Container {
  uuid: string;
  short_id: string;
  kind: string;
  project: string;
  custom_run_id: string | null;
  created: number;
}

export interface Buckets {
  step_lo: number[];
  step_hi: number[];
  min: number[];
  max: number[];
  first: number[];
  last: number[];
  count: number[];
}

export interface Points {
  total: number;
  offset: number;
  steps: number[];
  timestamps: number[];
  values: (number | string)[];
}

export interface SavedView {
  q?: string;
  cols?: string[];
  sort?: string;
  dir?: "asc" | "desc";
}

export interface DatasetUse {
  hash: string;
  files: number;
  size: number;
  container: string;
  kind: string;
  path: string;
  created: number;
}

export interface ManifestEntry {
  file_path: string;
  file_hash: string;
  type: string;
  size: number;
  metadata?: { file_path?: string; last_modified?: string };
}

export interface RegistryEvent {
  id: number;
  model: string;
  version: string;
  kind: "stage" | "alias" | "policy";
  name: string;
  before: string | null;
  after: string | null;
  actor: string;
  reason: string;
  at: number;
}

export interface Evaluation {
  time: number;
  run: string;
  version: string;
  production_then: string | null;
  dataset_role: string;
  dataset_hash: string;
  n: number;
  metric: string;
  value: number | null;
  ci_low: number | null;
  ci_high: number | null;
  status: string;
  reason: string;
  drift: string | null;
  drift_share: number | null;
}

export interface DriftRow {
  time: number;
  run: string;
  version: string;
  column: string;
  test: string;
  statistic: number | null;
  p_adjusted: number | null;
  effect: string;
  effect_size: number | null;
  verdict: string;
}

export interface GateDecision {
  time: number;
  run: string;
  candidate: string;
  baseline: string | null;
  verdict: string;
  reason: string;
  n: number | null;
  dataset_hash: string | null;
  commit: string | null;
  ci_url: string | null;
  actor: string | null;
}

export interface Histogram {
  column: string;
  kind: "numeric" | "categorical";
  run: string;
  version: string;
  reference_rows: number;
  current_rows: number;
  edges?: number[];
  values?: number[]; // a numeric column with few distinct values: one bin each
  labels?: string[];
  reference: number[];
  current: number[];
}

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public details: Record<string, unknown> = {}) {
    super(message);
  }
}

const TOKEN_KEY = "naiad.token";

export function token(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

async function fail(r: Response): Promise<never> {
  let body: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } = {};
  try {
    body = await r.json();
  } catch {
    /* not the envelope: a proxy's page */
  }
  const e = body.error;
  throw new ApiError(r.status, e?.code ?? "http_error", e?.message ?? `${r.status} ${r.statusText}`, e?.details ?? {});
}

export async function get<T>(path: string, params: Record<string, string | number | undefined> = {}, signal?: AbortSignal): Promise<T> {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) qs.set(k, String(v));
  const r = await fetch(`${API}${path}${qs.size ? `?${qs}` : ""}`, { headers: headers(), signal });
  if (!r.ok) return fail(r);
  return r.json() as Promise<T>;
}

export async function send<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  const r = await fetch(`${API}${path}`, {
    method,
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!r.ok) return fail(r);
  return r.json() as Promise<T>;
}

export const api = {
  overview: () => get<ProjectSummary[]>("/projects/overview"),
  fields: (project: string, kind = "run") => get<Record<string, FieldType>>("/projects/fields", { project, kind }),
  table: (project: string, opts: { query?: string; columns?: string[] | null; sort_by?: string; ascending?: boolean; limit?: number }, signal?: AbortSignal) =>
    send<Table>("POST", "/table", { project, kind: "run", ...opts }, signal),
  tableWindow: (project: string, opts: { query?: string; columns: string[]; sort_by?: string; ascending?: boolean; offset?: number; limit?: number; kind?: string }, signal?: AbortSignal) =>
    send<{ total: number; offset: number; ids: string[]; columns: Record<string, Column> }>(
      "POST", "/table", { project, kind: "run", layout: "columns", ...opts }, signal),
  datasetUses: (project: string) => get<DatasetUse[]>("/datasets/uses", { project }),
  datasetManifest: (project: string, digest: string) => get<ManifestEntry[]>("/datasets/manifest", { project, digest }),
  registryEvents: (project: string, model?: string) => get<RegistryEvent[]>("/registry/events", { project, model }),
  timeline: (model: string) => get<{ rule: Record<string, number | string | null>; evaluations: Evaluation[] }>("/models/timeline", { model }),
  drift: (model: string) => get<DriftRow[]>("/models/drift", { model }),
  gateDecisions: (model: string) => get<GateDecision[]>("/models/gate-decisions", { model }),
  histogram: (run: string, column: string) => get<Histogram>("/models/histogram", { run, column }),
  lookup: (shortId: string, project?: string) => get<Container>("/containers/lookup", { short_id: shortId, project }),
  readFields: (uuid: string, paths: string[] | null = null) => send<Row>("POST", `/containers/${uuid}/fields`, { paths }),
  buckets: (uuid: string, path: string, n: number, stepMin?: number, stepMax?: number, signal?: AbortSignal) =>
    get<Buckets>(`/containers/${uuid}/buckets`, { path, n, step_min: stepMin, step_max: stepMax }, signal),
  points: (uuid: string, path: string, offset: number, limit: number, every = 1) =>
    get<Points>(`/containers/${uuid}/points`, { path, offset, limit, every }),
  edit: (uuid: string, ops: unknown[]) => send<{ seq: number; errors: string[] }>("POST", `/containers/${uuid}/edit`, { ops }),
  views: (project: string) => get<Record<string, SavedView>>("/projects/views", { project }),
  saveView: (project: string, name: string, view: SavedView | null) =>
    send<Record<string, SavedView>>("PUT", "/projects/views", { project, name, view }),
  whoami: () => get<{ name: string; admin: boolean; anonymous: boolean }>("/whoami"),
};

// Files are fetched with the token (an <img src> cannot send one) and shown from an object URL.
const blobCache = new Map<string, Promise<Blob>>();

export function blob(digest: string): Promise<Blob> {
  let found = blobCache.get(digest);
  if (!found) {
    found = fetch(`${API}/blobs/${digest}`, { headers: headers() }).then((r) => (r.ok ? r.blob() : fail(r)));
    found.catch(() => blobCache.delete(digest));
    blobCache.set(digest, found);
  }
  return found;
}

export async function download(digest: string, name: string): Promise<void> {
  const b = await blob(digest);
  const url = URL.createObjectURL(b);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function num(v: unknown): number | null {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return null;
}

// One column of a runs-table window: its values, and per cell its type and, for series, count / min / max.
export interface Column {
  type: FieldType | null;
  values: unknown[];
  types?: (FieldType | null)[];
  count?: (number | null)[];
  min?: (number | string | null)[];
  max?: (number | string | null)[];
}
