-- migration 9: the monitoring alerts the store sent, once per evaluation and event; and the container each
-- writer writes to (see the SQLite schema for both).
CREATE TABLE monitoring_alerts (
    evaluation_cid BIGINT NOT NULL,
    event          TEXT COLLATE "C" NOT NULL,
    model          TEXT COLLATE "C" NOT NULL,
    actor          TEXT NOT NULL,
    actor_role     TEXT NOT NULL,
    recorded       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (evaluation_cid, event)
);
ALTER TABLE writers ADD COLUMN cid BIGINT;
