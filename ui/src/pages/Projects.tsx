import { api } from "../api";
import { Failure } from "../components/Failure";
import { fmtAgo, fmtTime } from "../format";
import { useLoad } from "../hooks";
import { Link, paths, useTitle } from "../router";

export function Projects() {
  useTitle("Projects");
  const { data, error, reload } = useLoad(() => api.overview(), []);
  return (
    <div className="page">
      <h1>Projects</h1>
      {error && <Failure error={error} retry={reload} />}
      {data && data.length === 0 && (
        <div className="empty">
          No projects yet. Track a run and it appears here:
          <pre style={{ textAlign: "left", display: "inline-block", marginTop: 12 }}>
{`import naiad
run = naiad.init_run(project="my-project")
run["parameters/lr"] = 0.01
for step in range(100):
    run["train/loss"].append(1 / (step + 1))
run.stop()`}
          </pre>
          <div>or try <code>python -m naiad demo</code>.</div>
        </div>
      )}
      {data && data.length > 0 && (
        <table className="plain" aria-label="projects">
          <thead>
            <tr>
              <th>Project</th>
              <th>Key</th>
              <th style={{ textAlign: "right" }}>Runs</th>
              <th style={{ textAlign: "right" }}>Models</th>
              <th>Last activity</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {data.map((p) => (
              <tr key={p.id}>
                <td>
                  <Link to={paths.runs(p.name)}>{p.name}</Link>
                </td>
                <td className="mono">{p.key}</td>
                <td className="num">{p.runs.toLocaleString("en-US")}</td>
                <td className="num">{p.models.toLocaleString("en-US")}</td>
                <td title={p.last_activity ? fmtTime(p.last_activity) : ""}>{p.last_activity ? fmtAgo(p.last_activity) : "—"}</td>
                <td>{fmtTime(p.created).slice(0, 10)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
