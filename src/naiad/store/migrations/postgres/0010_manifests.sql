-- migration 10: dataset manifests a client announced before a field names them (see the SQLite schema).
CREATE TABLE manifests (
    project_id  BIGINT NOT NULL,
    hash        TEXT COLLATE "C" NOT NULL,
    files       TEXT NOT NULL,
    created     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project_id, hash)
);
-- and the server's own secrets (the key that signs the neptune client's access tokens), shared by every
-- server process of a team
CREATE TABLE server_secrets (
    name   TEXT COLLATE "C" PRIMARY KEY,
    value  TEXT NOT NULL
);
-- and which account sent a blob's bytes (a server lets a field refer to a blob another project holds only
-- when the writer sent those bytes itself)
CREATE TABLE blob_claims (
    hash     TEXT COLLATE "C" NOT NULL,
    account  TEXT COLLATE "C" NOT NULL,
    claimed  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hash, account)
);
