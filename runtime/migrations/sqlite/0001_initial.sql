-- Alur durable state, first schema. Embedded into the binary with `sqlx::migrate!` and applied at open.
-- Never edit a migration that has shipped (sqlx checks each applied migration's checksum): add a new file.
-- Times are milliseconds since the Unix epoch; JSON is stored as TEXT; digests as 'sha256:<hex>'.

CREATE TABLE plugins (
    tenant     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    digest     TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, name, version),
    UNIQUE (tenant, name, digest)
);

-- Whether any plugin version still names a digest, before its bytes are dropped.
CREATE INDEX plugins_by_digest ON plugins (digest);

-- Content-addressed component bytes, shared by every tenant that uploaded the same bytes.
CREATE TABLE plugin_blobs (
    digest TEXT PRIMARY KEY,
    bytes  BLOB NOT NULL
);

CREATE TABLE processes (
    tenant     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    document   TEXT    NOT NULL,
    plugins    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, name, version)
);

-- The plugin names each process version pins (the keys of processes.plugins), so "is this plugin in use"
-- is an index lookup instead of a scan of JSON documents.
CREATE TABLE process_plugins (
    tenant  TEXT    NOT NULL,
    plugin  TEXT    NOT NULL,
    process TEXT    NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (tenant, plugin, process, version),
    FOREIGN KEY (tenant, process, version) REFERENCES processes (tenant, name, version) ON DELETE CASCADE
);

CREATE TABLE instances (
    id              TEXT    PRIMARY KEY,
    tenant          TEXT    NOT NULL,
    process         TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    input           TEXT    NOT NULL,
    output          TEXT,
    error           TEXT,
    idempotency_key TEXT,
    parent          TEXT,
    activity        TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (tenant, process, idempotency_key)
);

-- Listing a tenant's instances newest first (ids are UUID v7), optionally by process or status.
CREATE INDEX instances_by_tenant ON instances (tenant, id);
CREATE INDEX instances_by_tenant_process ON instances (tenant, process, id);
CREATE INDEX instances_by_tenant_status ON instances (tenant, status, id);
-- Unfinished instances, at startup.
CREATE INDEX instances_by_status ON instances (status, id);

CREATE TABLE journal (
    instance TEXT    NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    event    TEXT    NOT NULL,
    PRIMARY KEY (instance, seq)
);

CREATE TABLE kv (
    tenant TEXT NOT NULL,
    plugin TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  BLOB NOT NULL,
    PRIMARY KEY (tenant, plugin, key)
);
