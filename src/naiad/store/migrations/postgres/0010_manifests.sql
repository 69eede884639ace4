-- migration 10: dataset manifests a client announced before a field names them (see the SQLite schema).
CREATE TABLE manifests (
    project_id  BIGINT NOT NULL,
    hash        TEXT COLLATE "C" NOT NULL,
    files       TEXT NOT NULL,
    created     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project_id, hash)
);
