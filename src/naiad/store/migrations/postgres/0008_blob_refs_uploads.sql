-- migration 8: which container refers to which blob, filled from the stored fields and file series by
-- the migration's Python step (naiad.store.sql.blobrefs.index_blob_refs); and whose each resumable upload
-- is (see the SQLite schema).
CREATE TABLE blob_refs (
    hash  TEXT COLLATE "C" NOT NULL,
    cid   BIGINT NOT NULL,
    PRIMARY KEY (hash, cid)
);
CREATE TABLE blob_uploads (
    upload_id  TEXT COLLATE "C" PRIMARY KEY,
    account    TEXT NOT NULL,
    created    DOUBLE PRECISION NOT NULL
);
