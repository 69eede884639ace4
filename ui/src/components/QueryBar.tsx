import { useEffect, useMemo, useRef, useState } from "react";
import { ApiError, FieldType } from "../api";

const KEYWORDS = ["AND", "OR", "NOT", "CONTAINS", "EXISTS", "MATCHES"];

// The word the cursor is in: what autocompletion replaces.
function wordAt(text: string, cursor: number): [number, number] {
  let start = cursor;
  while (start > 0 && /[A-Za-z0-9_/.\-`]/.test(text[start - 1])) start--;
  let end = cursor;
  while (end < text.length && /[A-Za-z0-9_/.\-`]/.test(text[end])) end++;
  return [start, end];
}

export function QueryBar(props: {
  value: string;
  fields: Record<string, FieldType>;
  error: Error | undefined;
  shift: number; // characters the page put before the user's query (an opening parenthesis)
  onSubmit: (q: string) => void;
  inputRef?: React.RefObject<HTMLInputElement | null>;
}) {
  const [text, setText] = useState(props.value);
  const [cursor, setCursor] = useState(0);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const own = useRef<HTMLInputElement>(null);
  const input = props.inputRef ?? own;
  useEffect(() => setText(props.value), [props.value]);

  const [ws, we] = wordAt(text, cursor);
  const word = text.slice(ws, we).replace(/`/g, "");
  const options = useMemo(() => {
    if (!open || word.length === 0) return [];
    const w = word.toLowerCase();
    const paths = Object.entries(props.fields)
      .filter(([p]) => p.toLowerCase().includes(w) && p !== word)
      .sort(([a], [b]) => Number(!a.toLowerCase().startsWith(w)) - Number(!b.toLowerCase().startsWith(w)) || a.localeCompare(b))
      .slice(0, 50)
      .map(([p, t]) => ({ label: p, type: t as string }));
    const kws = KEYWORDS.filter((k) => k.toLowerCase().startsWith(w) && k.toLowerCase() !== w).map((k) => ({ label: k, type: "keyword" }));
    return [...kws, ...paths];
  }, [open, word, props.fields]);

  function accept(label: string) {
    const needsQuotes = !/^[A-Za-z0-9_/.\-]+$/.test(label);
    const ins = needsQuotes ? `\`${label}\`` : label;
    const next = text.slice(0, ws) + ins + " " + text.slice(we).replace(/^ /, "");
    setText(next);
    setOpen(false);
    const pos = ws + ins.length + 1;
    requestAnimationFrame(() => {
      input.current?.setSelectionRange(pos, pos);
      setCursor(pos);
    });
  }

  const err = props.error instanceof ApiError && props.error.code === "invalid_query" ? props.error : undefined;
  const position = err && typeof err.details.position === "number" ? Math.max(0, (err.details.position as number) - props.shift) : undefined;
  return (
    <div className="querybar">
      <input
        ref={input}
        aria-label="query"
        placeholder='Filter runs: last(val/acc) > 0.9 AND parameters/model = "sgd"   (press / to focus)'
        spellCheck={false}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setCursor(e.target.selectionStart ?? 0);
          setOpen(true);
          setActive(0);
        }}
        onSelect={(e) => setCursor((e.target as HTMLInputElement).selectionStart ?? 0)}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onKeyDown={(e) => {
          if (open && options.length) {
            if (e.key === "ArrowDown") {
              e.preventDefault();
              setActive((a) => (a + 1) % options.length);
              return;
            }
            if (e.key === "ArrowUp") {
              e.preventDefault();
              setActive((a) => (a - 1 + options.length) % options.length);
              return;
            }
            if (e.key === "Tab" || (e.key === "Enter" && active >= 0 && word.length > 0)) {
              e.preventDefault();
              accept(options[active].label);
              return;
            }
          }
          if (e.key === "Escape") {
            setOpen(false);
            return;
          }
          if (e.key === "Enter") {
            setOpen(false);
            props.onSubmit(text.trim());
          }
        }}
      />
      {open && options.length > 0 && (
        <div className="suggest" role="listbox" aria-label="suggestions">
          {options.map((o, i) => (
            <div key={o.label} role="option" aria-selected={i === active} className={i === active ? "on" : ""} onMouseDown={(e) => { e.preventDefault(); accept(o.label); }}>
              <span>{o.label}</span>
              <span className="t">{o.type}</span>
            </div>
          ))}
        </div>
      )}
      {err && (
        <div className="error small" role="alert" aria-label="query error" style={{ marginTop: 4 }}>
          {err.message.split("\n")[0]}
          {position !== undefined && (
            <div className="mono" style={{ whiteSpace: "pre", marginTop: 2 }}>
              {props.value}
              {"\n" + " ".repeat(position) + "^"}
            </div>
          )}
        </div>
      )}
    </div>
  );
}
