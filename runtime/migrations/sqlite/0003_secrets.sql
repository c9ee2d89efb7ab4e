-- Tenants' secrets, sealed (ChaCha20-Poly1305 under the node's key in <data>/secrets.key, the tenant and name
-- as associated data): the database alone does not reveal them.

CREATE TABLE secrets (
    tenant     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
);
