-- migration 5: the model registry's append-only history of stage and alias changes, and an index of
-- which Artifact field holds which dataset version (filled here from the fields already stored).
CREATE TABLE registry_events (
    id           BIGSERIAL PRIMARY KEY,
    project_id   BIGINT NOT NULL,
    model_cid    BIGINT NOT NULL,
    version_cid  BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    from_value   TEXT COLLATE "C",
    to_value     TEXT COLLATE "C",
    actor        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    occurred     DOUBLE PRECISION NOT NULL
);
CREATE INDEX registry_events_by_model ON registry_events(model_cid, id);
CREATE INDEX registry_events_by_project ON registry_events(project_id, id);

CREATE TABLE dataset_uses (
    cid    BIGINT NOT NULL,
    pid    BIGINT NOT NULL,
    hash   TEXT COLLATE "C" NOT NULL,
    files  BIGINT NOT NULL,
    bytes  BIGINT NOT NULL,
    PRIMARY KEY (cid, pid)
);
CREATE INDEX dataset_uses_by_hash ON dataset_uses(hash);

INSERT INTO dataset_uses(cid, pid, hash, files, bytes)
SELECT f.cid, f.pid, f.txt::jsonb ->> 'hash',
       COALESCE(jsonb_array_length(f.txt::jsonb -> 'files'), 0),
       COALESCE((SELECT sum((e ->> 'size')::bigint) FROM jsonb_array_elements(f.txt::jsonb -> 'files') e), 0)
FROM fields f
WHERE f.type = 'Artifact' AND f.txt IS NOT NULL AND f.txt::jsonb ->> 'hash' IS NOT NULL;
