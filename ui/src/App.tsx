import { useEffect, useState } from "react";
import { api } from "./api";
import { Failure } from "./components/Failure";
import { useLoad } from "./hooks";
import { Link, navigate, parseRoute, paths, useLocation } from "./router";
import { Projects } from "./pages/Projects";
import { Runs } from "./pages/Runs";
import { RunPage } from "./pages/Run";
import { Compare } from "./pages/Compare";
import { ModelPage, Models } from "./pages/Models";
import { Datasets } from "./pages/Datasets";

const THEME_KEY = "naiad.theme";

export function applyTheme(theme?: string): void {
  const chosen = theme ?? localStorage.getItem(THEME_KEY) ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  document.documentElement.dataset.theme = chosen;
}

function ThemeToggle() {
  const [theme, setTheme] = useState(document.documentElement.dataset.theme ?? "light");
  const next = theme === "dark" ? "light" : "dark";
  return (
    <button
      aria-label={`switch to the ${next} theme`}
      title={`Switch to the ${next} theme`}
      onClick={() => {
        localStorage.setItem(THEME_KEY, next);
        applyTheme(next);
        setTheme(next);
      }}
    >
      {theme === "dark" ? "☀" : "☾"}
    </button>
  );
}

export function App() {
  const loc = useLocation();
  const route = parseRoute(loc.split("?")[0]);
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/" className="brand">
          <svg width="18" height="18" viewBox="0 0 16 16" aria-hidden="true">
            <path d="M1 10c2-3 4-3 7 0s5 3 7 0v5H1z" fill="var(--accent)" />
          </svg>
          naiad
        </Link>
        <nav className="crumbs" aria-label="breadcrumbs">
          {route.page !== "projects" && route.page !== "missing" && route.page !== "goto" && (
            <>
              <span>/</span>
              <b>{route.project}</b>
              <span className="sections">
                <Link to={paths.runs(route.project)} className={["runs", "run", "compare"].includes(route.page) ? "on" : ""}>Runs</Link>
                <Link to={paths.models(route.project)} className={["models", "model"].includes(route.page) ? "on" : ""}>Models</Link>
                <Link to={paths.datasets(route.project)} className={route.page === "datasets" ? "on" : ""}>Datasets</Link>
              </span>
            </>
          )}
          {route.page === "model" && (
            <>
              <span>/</span>
              <span>{route.model}</span>
            </>
          )}
          {route.page === "run" && (
            <>
              <span>/</span>
              <span>{route.id}</span>
            </>
          )}
          {route.page === "compare" && (
            <>
              <span>/</span>
              <span>compare</span>
            </>
          )}
        </nav>
        <div className="spacer" />
        <a href="/api/v1/docs" className="muted small">API</a>
        <ThemeToggle />
      </header>
      <main className="main">
        {route.page === "projects" && <Projects />}
        {route.page === "runs" && <Runs key={route.project} project={route.project} />}
        {route.page === "run" && <RunPage key={route.id} project={route.project} id={route.id} />}
        {route.page === "compare" && <Compare project={route.project} />}
        {route.page === "models" && <Models project={route.project} />}
        {route.page === "datasets" && <Datasets project={route.project} />}
        {route.page === "model" && <ModelPage key={route.model} project={route.project} model={route.model} />}
        {route.page === "goto" && <GoTo id={route.id} />}
        {route.page === "missing" && (
          <div className="page">
            <div className="empty">
              No page at <code>{route.path}</code>. <Link to="/">See the projects</Link>.
            </div>
          </div>
        )}
      </main>
    </div>
  );
}

// /models/M/versions/V and /runs/ID (as gate reports link them): find the project, then go there.
function GoTo({ id }: { id: string }) {
  const found = useLoad(() => api.lookup(id), [id]);
  useEffect(() => {
    if (found.data) navigate(paths.run(found.data.project, found.data.short_id), true);
  }, [found.data]);
  if (found.error) return <div className="page"><Failure error={found.error} /></div>;
  return <div className="page muted">Finding {id}…</div>;
}
