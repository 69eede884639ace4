-- migration 6: webhooks and their delivery log (see the SQLite schema for what each column means).
CREATE TABLE webhooks (
    id          BIGSERIAL PRIMARY KEY,
    project     TEXT COLLATE "C" NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL,
    created     DOUBLE PRECISION NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id            BIGSERIAL PRIMARY KEY,
    webhook_id    BIGINT NOT NULL,
    project       TEXT COLLATE "C" NOT NULL,
    url           TEXT NOT NULL,
    event         TEXT NOT NULL,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  DOUBLE PRECISION NOT NULL,
    last_status   INTEGER,
    last_error    TEXT,
    created       DOUBLE PRECISION NOT NULL,
    delivered     DOUBLE PRECISION
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt);
CREATE INDEX webhook_deliveries_by_project ON webhook_deliveries(project, id);
