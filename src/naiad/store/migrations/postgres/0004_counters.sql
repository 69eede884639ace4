-- migration 4: numbering inside a scope, e.g. model versions per model (DEF-CLS-1, DEF-CLS-2, …).
CREATE TABLE counters (
    scope  TEXT COLLATE "C" PRIMARY KEY,
    next   BIGINT NOT NULL
);
