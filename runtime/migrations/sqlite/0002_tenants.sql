-- Tenants and their API keys. Keys are stored only as hashes; a tenant may hold several (rotation replaces them).
-- quota holds the tenant's quota overrides as a JSON object (NULL = none: the API applies the defaults).

CREATE TABLE tenants (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    quota      TEXT    NULL
);

CREATE TABLE api_keys (
    key_hash   TEXT    PRIMARY KEY,
    tenant     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);

-- A tenant's keys, to replace them on rotation (and for the cascade).
CREATE INDEX api_keys_by_tenant ON api_keys (tenant);
