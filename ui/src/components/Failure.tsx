import { useState } from "react";
import { ApiError, setToken } from "../api";

// Shown where a request failed: the server's own message, and a way in when a token is needed.
export function Failure({ error, retry }: { error: Error; retry?: () => void }) {
  const [value, setValue] = useState("");
  if (error instanceof ApiError && error.status === 401) {
    return (
      <div className="page">
        <div className="card" style={{ padding: 16, maxWidth: 520 }}>
          <h1>Sign in</h1>
          <p className="muted">{error.message}</p>
          <p className="muted small">
            Paste an API token (<code>naiad token create --user you</code> makes one). It stays in this browser only.
          </p>
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              setToken(value.trim());
              location.reload();
            }}
          >
            <input type="password" aria-label="API token" value={value} onChange={(e) => setValue(e.target.value)} style={{ flex: 1 }} />
            <button className="primary" type="submit">Sign in</button>
          </form>
        </div>
      </div>
    );
  }
  return (
    <div className="error" role="alert">
      {error.message}
      {retry && (
        <>
          {" "}
          <button className="link" onClick={retry}>Try again</button>
        </>
      )}
    </div>
  );
}
