-- naiad embedded catalog, schema version 1.
-- Every field of every container has one row in `fields` (its type fixes the meaning of num/txt);
-- series keep their running summary in `series` and their points in compressed `chunks`.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS projects (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,          -- "workspace/name" or "name", as the user gave it
    key       TEXT NOT NULL UNIQUE,          -- short uppercase key used in ids: DEF
    next_num  INTEGER NOT NULL DEFAULT 1,    -- next run number (DEF-<n>)
    created   REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS containers (
    cid           INTEGER PRIMARY KEY,
    uuid          TEXT NOT NULL UNIQUE,
    project_id    INTEGER NOT NULL REFERENCES projects(id),
    kind          TEXT NOT NULL,             -- run | model | model_version
    short_id      TEXT NOT NULL UNIQUE,      -- DEF-42
    custom_run_id TEXT,
    created       REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS containers_custom
    ON containers(project_id, kind, custom_run_id) WHERE custom_run_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS containers_project ON containers(project_id, kind);

-- other uuids a container answers to (an offline run that joined a run by custom_run_id)
CREATE TABLE IF NOT EXISTS container_aliases (
    uuid  TEXT PRIMARY KEY,
    cid   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS paths (
    pid   INTEGER PRIMARY KEY,
    path  TEXT NOT NULL UNIQUE
);

-- type: Float Integer Boolean String Datetime StringSet FloatSeries StringSeries FileSeries File FileSet Artifact
-- num: Float/Integer/Boolean(0/1)/Datetime(epoch seconds); txt: String value, or JSON for File/FileSet/Artifact.
CREATE TABLE IF NOT EXISTS fields (
    cid   INTEGER NOT NULL,
    pid   INTEGER NOT NULL,
    type  TEXT NOT NULL,
    num   REAL,
    txt   TEXT,
    PRIMARY KEY (cid, pid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fields_by_path ON fields(pid, num);

CREATE TABLE IF NOT EXISTS set_members (
    cid    INTEGER NOT NULL,
    pid    INTEGER NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (cid, pid, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS set_members_by_value ON set_members(pid, value);

CREATE TABLE IF NOT EXISTS series (
    sid         INTEGER PRIMARY KEY,
    cid         INTEGER NOT NULL,
    pid         INTEGER NOT NULL,
    type        TEXT NOT NULL,
    count       INTEGER NOT NULL DEFAULT 0,
    first_step  REAL,
    last_step   REAL,
    last_ts     REAL,
    last_num    REAL,      -- FloatSeries: last value
    last_txt    TEXT,      -- StringSeries / FileSeries: last value
    vmin        REAL,
    vmax        REAL,
    vsum        REAL NOT NULL DEFAULT 0,
    vsumsq      REAL NOT NULL DEFAULT 0,
    UNIQUE (cid, pid)
);
CREATE INDEX IF NOT EXISTS series_by_path ON series(pid, last_num);  -- runs-table filters on last values

CREATE TABLE IF NOT EXISTS chunks (
    sid      INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    step_lo  REAL NOT NULL,
    step_hi  REAL NOT NULL,
    ts_lo    REAL NOT NULL,
    ts_hi    REAL NOT NULL,
    vmin     REAL,
    vmax     REAL,
    vfirst   REAL,
    vlast    REAL,
    blocks   BLOB,             -- float series: per-512-point summaries (see chunks.block_summaries)
    data     BLOB NOT NULL,
    PRIMARY KEY (sid, seq)
);

-- numbering inside a scope: model versions per model ("DEF-CLS" → DEF-CLS-1, DEF-CLS-2, …)
CREATE TABLE IF NOT EXISTS counters (
    scope  TEXT PRIMARY KEY,
    next   INTEGER NOT NULL
);

-- idempotency: the highest seq applied per writer (an op log / client session)
CREATE TABLE IF NOT EXISTS writers (
    writer  TEXT PRIMARY KEY,
    seq     INTEGER NOT NULL,
    cid     INTEGER             -- the container it writes to (a writer is one op log of one container)
);

-- team mode: accounts (people and service accounts), their API tokens (only a hash of the secret is
-- kept) and their role in each project (by project name; a role may name a project not created yet)
CREATE TABLE IF NOT EXISTS accounts (
    name     TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,               -- user | service
    admin    INTEGER NOT NULL DEFAULT 0,  -- may manage accounts and see every project
    created  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id           TEXT PRIMARY KEY,
    account      TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,           -- SHA-256 of the secret part, hex
    label        TEXT NOT NULL DEFAULT '',
    created      REAL NOT NULL,
    expires      REAL,
    revoked      REAL,
    last_used    REAL
);
CREATE TABLE IF NOT EXISTS project_roles (
    account  TEXT NOT NULL,
    project  TEXT NOT NULL,
    role     TEXT NOT NULL,               -- viewer | contributor | maintainer | owner
    PRIMARY KEY (account, project)
);

-- model registry: every stage or alias change, append-only (who, when, from, to, why).  The current
-- state is also kept in the version's sys/stage and sys/aliases fields, and this table is the history
-- that answers "which version held production at time T".
CREATE TABLE IF NOT EXISTS registry_events (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL,
    model_cid    INTEGER NOT NULL,
    version_cid  INTEGER NOT NULL,     -- the version whose stage changed / that gained (or lost) the alias
    kind         TEXT NOT NULL,        -- stage | alias
    name         TEXT NOT NULL,        -- the alias ('' for a stage change)
    from_value   TEXT,                 -- stage before, or the version that held the alias before
    to_value     TEXT,                 -- stage after, or the version holding the alias now (NULL: removed)
    actor        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    occurred     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS registry_events_by_model ON registry_events(model_cid, id);
CREATE INDEX IF NOT EXISTS registry_events_by_project ON registry_events(project_id, id);

-- gate decisions: what `naiad gate` judged, recorded by the store (on a server: by the server, under the
-- account that ran the gate), never by a run's fields.  Append-only; a promotion policy reads them.
CREATE TABLE IF NOT EXISTS gate_decisions (
    id            INTEGER PRIMARY KEY,
    project_id    INTEGER NOT NULL,
    model_cid     INTEGER NOT NULL,
    candidate_cid INTEGER NOT NULL,
    baseline_cid  INTEGER,              -- the version it was compared with (NULL: none)
    dataset_hash  TEXT NOT NULL,
    n             INTEGER NOT NULL,     -- rows judged
    verdict       TEXT NOT NULL,        -- pass | fail | insufficient data
    reason        TEXT NOT NULL,
    run           TEXT NOT NULL,        -- the decision run (its report and rule results), '' if none
    details       TEXT NOT NULL,        -- JSON: commit, CI run, evaluations, spec, each rule's result
    actor         TEXT NOT NULL,        -- who recorded it (on a server: the authenticated account)
    actor_role    TEXT NOT NULL,        -- their role in the project then (admin, owner…; local: embedded)
    recorded      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS gate_decisions_by_candidate ON gate_decisions(candidate_cid, id);
CREATE INDEX IF NOT EXISTS gate_decisions_by_model ON gate_decisions(model_cid, id);

-- monitoring alerts the store sent (degradation_detected, drift_detected): each evaluation alerts once
-- per event, and says who asked for the check
CREATE TABLE IF NOT EXISTS monitoring_alerts (
    evaluation_cid INTEGER NOT NULL,
    event          TEXT NOT NULL,
    model          TEXT NOT NULL,      -- the model's short id
    actor          TEXT NOT NULL,
    actor_role     TEXT NOT NULL,
    recorded       REAL NOT NULL,
    PRIMARY KEY (evaluation_cid, event)
);

-- blob references: which container refers to which blob (File, FileSet, FileSeries point, uploaded
-- Artifact entry); a server lets an account read a blob only through a container it can see.
CREATE TABLE IF NOT EXISTS blob_refs (
    hash  TEXT NOT NULL,
    cid   INTEGER NOT NULL,
    PRIMARY KEY (hash, cid)
);

-- resumable uploads a server began: whose they are (only that account may continue, complete or abort
-- one) and when, so abandoned ones expire (NAIAD_UPLOAD_TTL)
CREATE TABLE IF NOT EXISTS blob_uploads (
    upload_id  TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    created    REAL NOT NULL
);

-- datasets: which Artifact field holds which dataset version (the manifest itself stays in the field)
CREATE TABLE IF NOT EXISTS dataset_uses (
    cid    INTEGER NOT NULL,
    pid    INTEGER NOT NULL,
    hash   TEXT NOT NULL,
    files  INTEGER NOT NULL,
    bytes  INTEGER NOT NULL,
    PRIMARY KEY (cid, pid)
);
CREATE INDEX IF NOT EXISTS dataset_uses_by_hash ON dataset_uses(hash);

-- manifests a client announced before a field names them: the neptune client sends a dataset version's
-- files (by its own hash) first and assigns the hash to a field after, in another request
CREATE TABLE IF NOT EXISTS manifests (
    project_id  INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    files       TEXT NOT NULL,            -- JSON: the manifest's entries, naiad's shape
    created     REAL NOT NULL,
    PRIMARY KEY (project_id, hash)
);

-- which account sent a blob's bytes to a server: a field may refer to a blob that a project the writer
-- cannot see holds only when the writer sent those bytes itself (holding the content, not just its hash)
CREATE TABLE IF NOT EXISTS blob_claims (
    hash     TEXT NOT NULL,
    account  TEXT NOT NULL,
    claimed  REAL NOT NULL,
    PRIMARY KEY (hash, account)
);

-- the server's own secrets (the key that signs the neptune client's access tokens), shared by every server
-- process of a team; never sent to a client
CREATE TABLE IF NOT EXISTS server_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- webhooks: registry and monitoring events POSTed to subscribers, HMAC-signed.  An event is queued
-- (webhook_deliveries, one row per subscriber) in the transaction that makes it, and delivered after:
-- retried with backoff until it succeeds or runs out of attempts; the rows are the delivery log.
CREATE TABLE IF NOT EXISTS webhooks (
    id          INTEGER PRIMARY KEY,
    project     TEXT NOT NULL,          -- a project name, or '*' for every project
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,          -- the HMAC-SHA256 key (kept: it signs every delivery)
    events      TEXT NOT NULL,          -- '*' or a comma-separated list of event types
    created     REAL NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id            INTEGER PRIMARY KEY,
    webhook_id    INTEGER NOT NULL,
    project       TEXT NOT NULL,        -- the event's project (the log is read per project)
    url           TEXT NOT NULL,        -- where it went (kept when the webhook is removed)
    event         TEXT NOT NULL,
    payload       TEXT NOT NULL,        -- the JSON body, exactly as signed and sent
    status        TEXT NOT NULL,        -- pending | delivered | failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  REAL NOT NULL,
    last_status   INTEGER,              -- the subscriber's last HTTP status
    last_error    TEXT,
    created       REAL NOT NULL,
    delivered     REAL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(status, next_attempt);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_project ON webhook_deliveries(project, id);
