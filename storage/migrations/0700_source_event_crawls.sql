-- Storage (storage.ingest): when a complete crawl of each source event last saw every listing
-- of it. A complete crawl proves that each listing of the source event it did not mark gone
-- was seen, so an unchanged listing needs no write of its own: one row per (marketplace,
-- source event) and crawl replaces a last_seen write per listing, the costliest part of a
-- re-crawl. listings_current.last_seen still moves when a listing is new, changed, back from
-- gone or seen by a partial crawl; listing_last_seen() is when it was really last seen.
-- Its writers (storage.ingest) bump ingest_versions (0600) in the same transaction, as for
-- listings_current itself.
CREATE TABLE source_event_crawls (
    marketplace      text COLLATE "C" NOT NULL,
    source_event_id  text COLLATE "C" NOT NULL,
    complete_at      timestamptz NOT NULL,   -- the earliest observation of that crawl
    PRIMARY KEY (marketplace, source_event_id),
    FOREIGN KEY (marketplace, source_event_id)
        REFERENCES event_sources (marketplace, source_event_id) ON DELETE CASCADE
);

-- When a listing was last seen: its own last_seen or, while it is not gone, the last complete
-- crawl of its source event, whichever is later. Call it as listing_last_seen(c) for a
-- listings_current row c.
CREATE FUNCTION listing_last_seen(c listings_current) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN c.gone_at IS NULL THEN greatest(c.last_seen, (
        SELECT s.complete_at FROM source_event_crawls s
         WHERE s.marketplace = c.marketplace AND s.source_event_id = c.source_event_id))
    ELSE c.last_seen END
$$;
