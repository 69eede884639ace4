-- migration 2: accounts, API tokens (hash of the secret only) and project roles, as in the SQLite catalog.
CREATE TABLE accounts (
    name     TEXT COLLATE "C" PRIMARY KEY,
    kind     TEXT NOT NULL,
    admin    INTEGER NOT NULL DEFAULT 0,
    created  DOUBLE PRECISION NOT NULL
);
CREATE TABLE tokens (
    id           TEXT COLLATE "C" PRIMARY KEY,
    account      TEXT COLLATE "C" NOT NULL,
    secret_hash  TEXT NOT NULL,
    label        TEXT NOT NULL DEFAULT '',
    created      DOUBLE PRECISION NOT NULL,
    expires      DOUBLE PRECISION,
    revoked      DOUBLE PRECISION,
    last_used    DOUBLE PRECISION
);
CREATE TABLE project_roles (
    account  TEXT COLLATE "C" NOT NULL,
    project  TEXT COLLATE "C" NOT NULL,
    role     TEXT NOT NULL,
    PRIMARY KEY (account, project)
);
