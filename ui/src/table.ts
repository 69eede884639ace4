// The runs table, fetched a window at a time: the first rows paint as soon as their page arrives,
// the rest come as they are scrolled to.  The server sorts, so any order of 10,000 runs costs one page.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, Column, Field } from "./api";

export type { Column };

export const PAGE = 500;


export interface Page {
  ids: string[];
  columns: Record<string, Column>;
}

export function cell(page: Page, i: number, path: string): Field | undefined {
  const col = page.columns[path];
  if (!col) return undefined;
  const value = col.values[i];
  const type = col.types ? col.types[i] : col.type;
  if (type === null || type === undefined || (value === null && !col.count?.[i])) return undefined;
  return { type, value, count: col.count?.[i] ?? undefined, min: col.min?.[i], max: col.max?.[i] };
}

export interface PagedTable {
  total: number | null;
  row: (i: number) => { id: string; page: Page; j: number } | null;
  ensure: (from: number, to: number) => void;
  error: Error | undefined;
  loading: boolean;
  refresh: () => void;
}

export function usePagedTable(project: string, query: string, columns: string[], sortBy: string, ascending: boolean, enabled: boolean): PagedTable {
  const key = JSON.stringify([project, query, columns, sortBy, ascending]);
  const pages = useRef(new Map<number, Page>());
  const inflight = useRef(new Set<number>());
  const gen = useRef(0);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [, setVersion] = useState(0);

  const load = useCallback(
    (n: number, mine: number) => {
      if (inflight.current.has(n)) return;
      inflight.current.add(n);
      api
        .tableWindow(project, { query: query || undefined, columns, sort_by: sortBy, ascending, offset: n * PAGE, limit: PAGE })
        .then(
          (r) => {
            if (mine !== gen.current) return;
            pages.current.set(n, { ids: r.ids, columns: r.columns });
            setTotal(r.total);
            setError(undefined);
            setVersion((v) => v + 1);
          },
          (e: Error) => mine === gen.current && setError(e),
        )
        .finally(() => {
          if (mine === gen.current) {
            inflight.current.delete(n);
            setLoading(inflight.current.size > 0);
          }
        });
      setLoading(true);
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [key],
  );

  useEffect(() => {
    const mine = ++gen.current;
    pages.current = new Map();
    inflight.current = new Set();
    setTotal(null);
    setError(undefined);
    if (enabled) load(0, mine);
  }, [key, enabled, load]);

  const inView = useRef<[number, number]>([0, 0]);
  const ensure = useCallback(
    (from: number, to: number) => {
      inView.current = [Math.floor(from / PAGE), Math.floor(Math.max(from, to) / PAGE)];
      if (!enabled) return;
      for (let n = Math.floor(from / PAGE); n <= Math.floor(Math.max(from, to) / PAGE); n++) {
        if (!pages.current.has(n)) load(n, gen.current);
      }
    },
    [enabled, load],
  );

  // live refresh: fetch the pages in view again (their old rows stay until the new ones arrive); pages
  // out of view are dropped and fetched afresh when scrolled to, so a long scroll costs nothing later
  const refresh = useCallback(() => {
    const [lo, hi] = inView.current;
    for (const n of [...pages.current.keys()]) {
      if (n < lo || n > hi) {
        pages.current.delete(n);
        continue;
      }
      inflight.current.delete(n);
      load(n, gen.current);
    }
    if (!pages.current.has(lo)) load(lo, gen.current);
  }, [load]);

  const row = (i: number) => {
    const page = pages.current.get(Math.floor(i / PAGE));
    if (!page) return null;
    const j = i % PAGE;
    const id = page.ids[j];
    if (id === undefined) return null;
    return { id, page, j };
  };
  return { total, row, ensure, error, loading, refresh };
}
