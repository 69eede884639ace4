import { GateDecision } from "../api";
import { fmtTime } from "../format";
import { Link, paths } from "../router";

// The gate's decisions on a model, newest first: shown on the model page and on a decision run's page.
export function GateTable({ project, decisions }: { project: string; decisions: GateDecision[] }) {
  if (decisions.length === 0) return <div className="empty">No gate decisions yet: <code>naiad gate --candidate … --spec gate.yaml</code> records one.</div>;
  return (
    <table className="plain" aria-label="gate decisions">
      <thead><tr><th>When</th><th>Decision run</th><th>Candidate</th><th>Baseline</th><th>Verdict</th><th>Reason</th><th>Rows</th><th>Commit</th><th>CI</th><th>By</th></tr></thead>
      <tbody>
        {[...decisions].reverse().map((d) => (
          <tr key={d.run} data-decision={d.run}>
            <td>{fmtTime(d.time)}</td>
            <td><Link to={paths.run(project, d.run)}>{d.run}</Link></td>
            <td><Link to={paths.run(project, d.candidate)}>{d.candidate}</Link></td>
            <td>{d.baseline ? <Link to={paths.run(project, d.baseline)}>{d.baseline}</Link> : <span className="muted">none</span>}</td>
            <td><b className={`verdict-${d.verdict}`}>{d.verdict}</b></td>
            <td style={{ maxWidth: 420 }}>{d.reason}</td>
            <td className="num">{d.n ?? ""}</td>
            <td className="mono">{d.commit?.slice(0, 10) ?? ""}</td>
            <td>{d.ci_url ? <a href={d.ci_url} rel="noreferrer">run</a> : ""}</td>
            <td>{d.actor ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
