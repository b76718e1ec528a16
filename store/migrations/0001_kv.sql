-- Tollgate's store on PostgreSQL: the same ordered key-value tables the embedded backend keeps
-- (store/src/backend/mod.rs, `Table`), one row per entry. Keys compare as bytes (bytea), which
-- is the order the embedded backend lists them in.
CREATE TABLE tollgate_kv (
    t text COLLATE "C" NOT NULL,
    k bytea NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (t, k)
);

-- Bumped by every write transaction that changed something; replicas compare it (and hear it
-- through NOTIFY tollgate_changes) to know when what they cached may be stale.
CREATE TABLE tollgate_generation (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    g bigint NOT NULL
);
INSERT INTO tollgate_generation (one, g) VALUES (true, 0);
