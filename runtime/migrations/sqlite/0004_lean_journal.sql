-- Fewer B-trees for the journal writer to touch per commit (each touched page is written to the WAL and
-- fsynced): under load a group commit wrote ~23 pages, 7 of them the journal's rowid table and its
-- (instance, seq) index, and 2 the `instances_by_status` index, which kept every finished instance.
--
-- The journal becomes a WITHOUT ROWID table keyed by (instance, seq): one B-tree instead of two, and an
-- instance's events stay together for replay. Its rows are small (the events of one step), as such tables
-- want. Nothing references the journal, so dropping the old one cascades nowhere.
CREATE TABLE journal_lean (
    instance TEXT    NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    event    TEXT    NOT NULL,
    PRIMARY KEY (instance, seq)
) WITHOUT ROWID;
INSERT INTO journal_lean (instance, seq, at, event) SELECT instance, seq, at, event FROM journal;
DROP TABLE journal;
ALTER TABLE journal_lean RENAME TO journal;

-- Only the unfinished instances are looked up by status without a tenant (at startup, to resume them); listing
-- by status goes through `instances_by_tenant_status`. An instance leaves this index when it ends.
DROP INDEX instances_by_status;
CREATE INDEX instances_running ON instances (id) WHERE status = 'running';
