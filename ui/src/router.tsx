// Every view lives in the URL (path + query string), so any page can be shared as a link.
import { useEffect, useSyncExternalStore } from "react";

type Listener = () => void;
const listeners = new Set<Listener>();

function notify(): void {
  for (const l of listeners) l();
}

window.addEventListener("popstate", notify);

function subscribe(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useLocation(): string {
  return useSyncExternalStore(subscribe, () => location.pathname + location.search);
}

export function navigate(url: string, replace = false): void {
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  notify();
  if (!replace) window.scrollTo(0, 0);
}

export type Route =
  | { page: "projects" }
  | { page: "runs"; project: string }
  | { page: "run"; project: string; id: string }
  | { page: "compare"; project: string }
  | { page: "models"; project: string }
  | { page: "datasets"; project: string }
  | { page: "model"; project: string; model: string }
  | { page: "goto"; id: string } // a link that names a run or version but not its project (gate reports)
  | { page: "missing"; path: string };

export function parseRoute(pathname: string): Route {
  const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: "projects" };
  if (parts[0] === "models" && parts.length === 4 && parts[2] === "versions") return { page: "goto", id: parts[3] };
  if (parts[0] === "runs" && parts.length === 2) return { page: "goto", id: parts[1] };
  if (parts[0] === "p" && parts.length >= 2) {
    const project = parts[1];
    if (parts.length === 2 || (parts.length === 3 && parts[2] === "runs")) return { page: "runs", project };
    if (parts.length === 4 && parts[2] === "runs") return { page: "run", project, id: parts[3] };
    if (parts.length === 3 && parts[2] === "compare") return { page: "compare", project };
    if (parts.length === 3 && parts[2] === "models") return { page: "models", project };
    if (parts.length === 3 && parts[2] === "datasets") return { page: "datasets", project };
    if (parts.length === 4 && parts[2] === "models") return { page: "model", project, model: parts[3] };
    if (parts.length === 6 && parts[2] === "models" && parts[4] === "versions") return { page: "run", project, id: parts[5] };
  }
  return { page: "missing", path: pathname };
}

export const paths = {
  runs: (project: string, params?: URLSearchParams) => `/p/${encodeURIComponent(project)}/runs${params && params.size ? `?${params}` : ""}`,
  run: (project: string, id: string, params?: URLSearchParams) =>
    `/p/${encodeURIComponent(project)}/runs/${encodeURIComponent(id)}${params && params.size ? `?${params}` : ""}`,
  models: (project: string) => `/p/${encodeURIComponent(project)}/models`,
  datasets: (project: string, digest?: string) => `/p/${encodeURIComponent(project)}/datasets${digest ? `?d=${digest}` : ""}`,
  model: (project: string, model: string, tab?: string) =>
    `/p/${encodeURIComponent(project)}/models/${encodeURIComponent(model)}${tab ? `?tab=${tab}` : ""}`,
  compare: (project: string, ids: string[]) => `/p/${encodeURIComponent(project)}/compare?ids=${ids.map(encodeURIComponent).join(",")}`,
};

// Query-string state: read with the current URL, written back with replaceState (no history spam).
export function useParams(): URLSearchParams {
  useLocation();
  return new URLSearchParams(location.search);
}

export function setParams(update: Record<string, string | null | undefined>, push = false): void {
  const p = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(update)) {
    if (v === null || v === undefined || v === "") p.delete(k);
    else p.set(k, v);
  }
  const qs = p.toString();
  navigate(location.pathname + (qs ? `?${qs}` : ""), !push);
}

export function Link(props: { to: string; className?: string; children: React.ReactNode; title?: string }) {
  return (
    <a
      href={props.to}
      className={props.className}
      title={props.title}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · naiad` : "naiad";
  }, [title]);
}
