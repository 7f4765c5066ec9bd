-- A per-event counter of listings_current changes, for the ingest writer's state cache: every
-- writer that changes a listing's state columns (prices, quantity, first/last seen, gone)
-- bumps its event's version in the same transaction (storage.ingest does; deletes bump it
-- here), so a writer trusts its cached state of an event only while the version is the one
-- it last wrote. Writers of other columns (deal scores) need not bump.
CREATE TABLE ingest_versions (
    event_id  bigint PRIMARY KEY,
    version   bigint NOT NULL
);

CREATE FUNCTION ingest_versions_bump_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ingest_versions AS v (event_id, version)
    SELECT DISTINCT event_id, 1 FROM gone ORDER BY 1
    ON CONFLICT (event_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER ingest_versions_deleted AFTER DELETE ON listings_current
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION ingest_versions_bump_deleted();

CREATE FUNCTION ingest_versions_bump_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- every cached version is >= 1, and a bump from an absent row yields 1: all miss
    DELETE FROM ingest_versions;
    RETURN NULL;
END $$;
CREATE TRIGGER ingest_versions_truncated AFTER TRUNCATE ON listings_current
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_versions_bump_truncated();
