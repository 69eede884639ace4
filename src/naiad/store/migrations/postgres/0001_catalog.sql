-- naiad team catalog on PostgreSQL, migration 1: the same tables as the embedded SQLite catalog.
-- Text that is compared or range-scanned (paths, values) uses the "C" collation: byte-wise order,
-- the same as SQLite, whatever the database's locale.
CREATE TABLE projects (
    id        BIGSERIAL PRIMARY KEY,
    name      TEXT COLLATE "C" NOT NULL UNIQUE,
    key       TEXT COLLATE "C" NOT NULL UNIQUE,
    next_num  BIGINT NOT NULL DEFAULT 1,
    created   DOUBLE PRECISION NOT NULL
);

CREATE TABLE containers (
    cid           BIGSERIAL PRIMARY KEY,
    uuid          TEXT COLLATE "C" NOT NULL UNIQUE,
    project_id    BIGINT NOT NULL REFERENCES projects(id),
    kind          TEXT NOT NULL,
    short_id      TEXT COLLATE "C" NOT NULL UNIQUE,
    custom_run_id TEXT COLLATE "C",
    created       DOUBLE PRECISION NOT NULL
);
CREATE UNIQUE INDEX containers_custom ON containers(project_id, kind, custom_run_id)
    WHERE custom_run_id IS NOT NULL;
CREATE INDEX containers_project ON containers(project_id, kind);

CREATE TABLE container_aliases (
    uuid  TEXT COLLATE "C" PRIMARY KEY,
    cid   BIGINT NOT NULL
);

CREATE TABLE paths (
    pid   BIGSERIAL PRIMARY KEY,
    path  TEXT COLLATE "C" NOT NULL UNIQUE
);

CREATE TABLE fields (
    cid   BIGINT NOT NULL,
    pid   BIGINT NOT NULL,
    type  TEXT NOT NULL,
    num   DOUBLE PRECISION,
    txt   TEXT COLLATE "C",
    PRIMARY KEY (cid, pid)
);
CREATE INDEX fields_by_path ON fields(pid, num);

CREATE TABLE set_members (
    cid    BIGINT NOT NULL,
    pid    BIGINT NOT NULL,
    value  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (cid, pid, value)
);
CREATE INDEX set_members_by_value ON set_members(pid, value);

CREATE TABLE series (
    sid         BIGSERIAL PRIMARY KEY,
    cid         BIGINT NOT NULL,
    pid         BIGINT NOT NULL,
    type        TEXT NOT NULL,
    count       BIGINT NOT NULL DEFAULT 0,
    first_step  DOUBLE PRECISION,
    last_step   DOUBLE PRECISION,
    last_ts     DOUBLE PRECISION,
    last_num    DOUBLE PRECISION,
    last_txt    TEXT COLLATE "C",
    vmin        DOUBLE PRECISION,
    vmax        DOUBLE PRECISION,
    vsum        DOUBLE PRECISION NOT NULL DEFAULT 0,
    vsumsq      DOUBLE PRECISION NOT NULL DEFAULT 0,
    UNIQUE (cid, pid)
);

CREATE TABLE chunks (
    sid      BIGINT NOT NULL,
    seq      BIGINT NOT NULL,
    n        BIGINT NOT NULL,
    step_lo  DOUBLE PRECISION NOT NULL,
    step_hi  DOUBLE PRECISION NOT NULL,
    ts_lo    DOUBLE PRECISION NOT NULL,
    ts_hi    DOUBLE PRECISION NOT NULL,
    vmin     DOUBLE PRECISION,
    vmax     DOUBLE PRECISION,
    vfirst   DOUBLE PRECISION,
    vlast    DOUBLE PRECISION,
    blocks   BYTEA,
    data     BYTEA NOT NULL,
    PRIMARY KEY (sid, seq)
);
-- chunk bytes are already compressed: keep them out of TOAST's pglz pass
ALTER TABLE chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE writers (
    writer  TEXT COLLATE "C" PRIMARY KEY,
    seq     BIGINT NOT NULL
);
