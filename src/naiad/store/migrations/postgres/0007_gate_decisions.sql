-- migration 7: gate decisions recorded by the store itself (see the SQLite schema for each column):
-- a promotion policy reads these, never a run's fields.
CREATE TABLE gate_decisions (
    id            BIGSERIAL PRIMARY KEY,
    project_id    BIGINT NOT NULL,
    model_cid     BIGINT NOT NULL,
    candidate_cid BIGINT NOT NULL,
    baseline_cid  BIGINT,
    dataset_hash  TEXT COLLATE "C" NOT NULL,
    n             BIGINT NOT NULL,
    verdict       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    run           TEXT COLLATE "C" NOT NULL,
    details       TEXT NOT NULL,
    actor         TEXT NOT NULL,
    actor_role    TEXT NOT NULL,
    recorded      DOUBLE PRECISION NOT NULL
);
CREATE INDEX gate_decisions_by_candidate ON gate_decisions(candidate_cid, id);
CREATE INDEX gate_decisions_by_model ON gate_decisions(model_cid, id);
