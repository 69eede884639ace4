import { useEffect, useState } from "react";
import { blob, download } from "../api";
import { fmtBytes } from "../format";

export interface FileEntry {
  key: string; // unique in the list: field path, or path + "/" + file name
  field: string;
  name: string;
  hash: string | null; // null: an artifact entry naiad only points at (s3://…), no bytes stored
  size: number;
  note?: string;
}

const IMAGE = ["png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "avif"];
const TEXT = ["txt", "log", "md", "yaml", "yml", "toml", "ini", "cfg", "xml", "sh", "sql", "env", "rst"];
const CODE = ["py", "js", "ts", "tsx", "jsx", "java", "c", "h", "cc", "cpp", "hpp", "go", "rs", "r", "jl", "scala", "rb"];
const PREVIEW_LIMIT = 5 << 20; // bytes read into the page for a text preview

export function extOf(name: string): string {
  const m = /\.([A-Za-z0-9]+)$/.exec(name);
  return m ? m[1].toLowerCase() : "";
}

export function kindOf(name: string): "image" | "html" | "csv" | "json" | "notebook" | "code" | "text" | "other" {
  const e = extOf(name);
  if (IMAGE.includes(e)) return "image";
  if (e === "html" || e === "htm") return "html";
  if (e === "csv" || e === "tsv") return "csv";
  if (e === "json" || e === "jsonl") return "json";
  if (e === "ipynb") return "notebook";
  if (CODE.includes(e)) return "code";
  if (TEXT.includes(e) || e === "") return "text";
  return "other";
}

export function BlobImage({ hash, alt }: { hash: string; alt: string }) {
  const [url, setUrl] = useState<string>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let made: string | undefined;
    let live = true;
    blob(hash).then(
      (b) => {
        made = URL.createObjectURL(b);
        if (live) setUrl(made);
      },
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [hash]);
  if (error) return <div className="error">{error}</div>;
  return url ? <img src={url} alt={alt} data-preview="image" /> : <div className="muted">Loading…</div>;
}

// A small, dependency-free highlighter: keywords, strings, comments and numbers, enough to read code.
const KEYWORDS = new Set(
  "def class return if elif else for while in not and or import from as with try except finally raise lambda yield pass break continue None True False async await const let var function new this extends export default null undefined true false typeof interface type public private static void int float double char struct fn impl pub use mod match".split(" "),
);

export function highlight(code: string, ext: string): React.ReactNode[] {
  const hashComment = ["py", "r", "rb", "sh", "yaml", "yml", "toml", "jl"].includes(ext);
  const re = hashComment
    ? /(#.*$)|("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')|(\b\d+(?:\.\d+)?\b)|([A-Za-z_]\w*)/gm
    : /(\/\/.*$|\/\*[\s\S]*?\*\/)|(`(?:\\.|[^`\\])*`|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')|(\b\d+(?:\.\d+)?\b)|([A-Za-z_]\w*)/gm;
  const out: React.ReactNode[] = [];
  let last = 0;
  let m: RegExpExecArray | null;
  let i = 0;
  while ((m = re.exec(code))) {
    if (m.index > last) out.push(code.slice(last, m.index));
    const [text, comment, str, number, word] = m;
    if (comment) out.push(<span key={i++} className="hl-c">{text}</span>);
    else if (str) out.push(<span key={i++} className="hl-s">{text}</span>);
    else if (number) out.push(<span key={i++} className="hl-n">{text}</span>);
    else if (word && KEYWORDS.has(word)) out.push(<span key={i++} className="hl-k">{text}</span>);
    else out.push(text);
    last = m.index + text.length;
  }
  out.push(code.slice(last));
  return out;
}

// RFC 4180 rows: quoted fields with commas, doubled quotes and line breaks.
export function parseCsv(text: string, sep = ",", maxRows = 1000): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === sep) {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      if (rows.length >= maxRows + 1) return rows;
    } else cell += c;
  }
  if (cell !== "" || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

function CsvTable({ text, sep }: { text: string; sep: string }) {
  const rows = parseCsv(text, sep);
  if (rows.length === 0) return <div className="muted">Empty file.</div>;
  const [head, ...body] = rows;
  return (
    <div style={{ overflow: "auto", maxHeight: "70vh" }}>
      <table className="plain" data-preview="csv" aria-label="csv preview">
        <thead>
          <tr>{head.map((h, i) => <th key={i}>{h}</th>)}</tr>
        </thead>
        <tbody>
          {body.map((r, i) => (
            <tr key={i}>{r.map((c, j) => <td key={j} className={/^-?[\d.]+(e-?\d+)?$/i.test(c) ? "num" : ""}>{c}</td>)}</tr>
          ))}
        </tbody>
      </table>
      {body.length >= 1000 && <div className="muted small">The first 1,000 rows; download the file for all of them.</div>}
    </div>
  );
}

interface NbCell { cell_type: string; source: string | string[]; outputs?: { output_type: string; text?: string | string[]; data?: Record<string, string | string[]> }[] }

function Notebook({ text }: { text: string }) {
  let nb: { cells?: NbCell[]; metadata?: { language_info?: { name?: string } } };
  try {
    nb = JSON.parse(text);
  } catch {
    return <div className="error">Not a valid notebook (the JSON does not parse).</div>;
  }
  const join = (s: string | string[] | undefined) => (Array.isArray(s) ? s.join("") : s ?? "");
  return (
    <div data-preview="notebook">
      {(nb.cells ?? []).map((c, i) => (
        <div key={i} className={`nb-cell ${c.cell_type}`}>
          {c.cell_type === "code" ? <pre>{highlight(join(c.source), "py")}</pre> : <pre className="cell-md">{join(c.source)}</pre>}
          {(c.outputs ?? []).map((o, j) => {
            const png = o.data?.["image/png"];
            if (png) return <img key={j} alt="output" src={`data:image/png;base64,${join(png).trim()}`} />;
            const t = join(o.text ?? o.data?.["text/plain"]);
            return t ? <pre key={j} className="muted">{t}</pre> : null;
          })}
        </div>
      ))}
    </div>
  );
}

export function Preview({ entry }: { entry: FileEntry }) {
  const kind = kindOf(entry.name);
  const [text, setText] = useState<string>();
  const [error, setError] = useState<string>();
  const wantsText = kind !== "image" && kind !== "other" && entry.hash !== null && entry.size <= PREVIEW_LIMIT;
  useEffect(() => {
    setText(undefined);
    setError(undefined);
    if (!wantsText || !entry.hash) return;
    let live = true;
    blob(entry.hash).then((b) => b.text()).then((t) => live && setText(t), (e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [entry.hash, wantsText]);

  return (
    <div className="card preview" aria-label="preview">
      <div className="row" style={{ justifyContent: "space-between", marginBottom: 8 }}>
        <div>
          <b className="mono">{entry.name}</b> <span className="muted small">{fmtBytes(entry.size)} · {entry.field}</span>
        </div>
        {entry.hash && <button onClick={() => download(entry.hash!, entry.name.split("/").pop() || "file")}>Download</button>}
      </div>
      {entry.hash && <div className="muted small mono" style={{ marginBottom: 8 }}>sha256 {entry.hash}</div>}
      {entry.note && <div className="muted small">{entry.note}</div>}
      {!entry.hash ? (
        <div className="muted">naiad keeps only this file's location and hash, not its bytes.</div>
      ) : kind === "image" ? (
        <BlobImage hash={entry.hash} alt={entry.name} />
      ) : kind === "other" ? (
        <div className="muted">No preview for .{extOf(entry.name) || "?"} files; download it.</div>
      ) : entry.size > PREVIEW_LIMIT ? (
        <div className="muted">Too large to preview ({fmtBytes(entry.size)}); download it.</div>
      ) : error ? (
        <div className="error">{error}</div>
      ) : text === undefined ? (
        <div className="muted">Loading…</div>
      ) : kind === "html" ? (
        <iframe sandbox="" srcDoc={text} title={entry.name} data-preview="html" />
      ) : kind === "csv" ? (
        <CsvTable text={text} sep={extOf(entry.name) === "tsv" ? "\t" : ","} />
      ) : kind === "json" ? (
        <pre data-preview="json">{prettyJson(text)}</pre>
      ) : kind === "notebook" ? (
        <Notebook text={text} />
      ) : kind === "code" ? (
        <pre data-preview="code">{highlight(text, extOf(entry.name))}</pre>
      ) : (
        <pre data-preview="text">{text}</pre>
      )}
    </div>
  );
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text; // JSON lines, or not JSON after all
  }
}
