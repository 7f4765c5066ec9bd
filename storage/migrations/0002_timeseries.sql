-- Time series: listing snapshots (append-only, one row per new or changed listing) and
-- marketplace price stats. TimescaleDB hypertables with compression and retention when the
-- extension can be installed; otherwise native range partitions created ahead of the data by
-- ripcity_ensure_partitions() and dropped by ripcity_drop_partitions_before().
-- Also: latest state per listing, hourly rollups, and the quarantine of rejected rows.

-- The shapes are declared once as plain tables and copied below into the chosen layout.
CREATE TABLE _shape_listing_snapshots (
    observed_at      timestamptz NOT NULL,
    event_id         bigint NOT NULL,
    marketplace      text COLLATE "C" NOT NULL,
    listing_id       text COLLATE "C" NOT NULL,
    source_event_id  text COLLATE "C" NOT NULL,
    section          text,
    "row"            text,
    seats            text,
    quantity         integer NOT NULL,
    splits           text,
    price_cents      bigint NOT NULL,
    fees_cents       bigint,
    total_cents      bigint NOT NULL,
    currency         text,
    delivery         text,
    kind             text,
    zone             text,
    -- The idempotency key (a retried batch never duplicates); event_id leads so the same
    -- index serves "snapshots of an event over time" (partitions / chunks prune the time).
    PRIMARY KEY (event_id, marketplace, listing_id, observed_at)
);

CREATE TABLE _shape_event_price_stats (
    observed_at        timestamptz NOT NULL,
    event_id           bigint NOT NULL,
    marketplace        text COLLATE "C" NOT NULL,
    source_event_id    text COLLATE "C" NOT NULL,
    lowest_cents       bigint,
    lowest_base_cents  bigint,
    median_cents       bigint,
    average_cents      bigint,
    highest_cents      bigint,
    listing_count      integer,
    currency           text,
    PRIMARY KEY (event_id, marketplace, observed_at)
);

-- Native partitioning bookkeeping: which tables are partitioned and how wide a partition is.
CREATE TABLE ripcity_partitioned (
    parent  text PRIMARY KEY,
    step    interval NOT NULL
);

DO $$
DECLARE
    use_timescale boolean := false;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
            use_timescale := true;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'timescaledb cannot be installed (%): using native partitions', SQLERRM;
        END;
    END IF;

    IF use_timescale THEN
        CREATE TABLE listing_snapshots (LIKE _shape_listing_snapshots INCLUDING ALL);
        CREATE TABLE event_price_stats (LIKE _shape_event_price_stats INCLUDING ALL);
        -- ~1M snapshot rows a day at full crawl rate: one chunk per day stays well in memory.
        PERFORM create_hypertable('listing_snapshots', by_range('observed_at', INTERVAL '1 day'));
        PERFORM create_hypertable('event_price_stats', by_range('observed_at', INTERVAL '30 days'));
        ALTER TABLE listing_snapshots SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'event_id, marketplace',
            timescaledb.compress_orderby = 'listing_id, observed_at DESC');
        ALTER TABLE event_price_stats SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'event_id, marketplace',
            timescaledb.compress_orderby = 'observed_at DESC');
        PERFORM add_compression_policy('listing_snapshots', INTERVAL '3 days');
        PERFORM add_compression_policy('event_price_stats', INTERVAL '30 days');
        PERFORM add_retention_policy('listing_snapshots', INTERVAL '400 days');
        PERFORM add_retention_policy('event_price_stats', INTERVAL '400 days');
        INSERT INTO ripcity_meta VALUES ('timeseries_backend', 'timescaledb');
    ELSE
        CREATE TABLE listing_snapshots (LIKE _shape_listing_snapshots INCLUDING ALL)
            PARTITION BY RANGE (observed_at);
        CREATE TABLE event_price_stats (LIKE _shape_event_price_stats INCLUDING ALL)
            PARTITION BY RANGE (observed_at);
        INSERT INTO ripcity_partitioned VALUES
            ('listing_snapshots', INTERVAL '1 day'),
            ('event_price_stats', INTERVAL '1 month');
        INSERT INTO ripcity_meta VALUES ('timeseries_backend', 'native');
    END IF;
END $$;

DROP TABLE _shape_listing_snapshots;
DROP TABLE _shape_event_price_stats;

-- Create the partitions of every natively partitioned table covering [from_ts, to_ts].
-- Idempotent and safe to call concurrently; returns how many partitions it created.
CREATE FUNCTION ripcity_ensure_partitions(from_ts timestamptz, to_ts timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    p record;
    lo timestamptz;
    hi timestamptz;
    part text;
    created integer := 0;
BEGIN
    FOR p IN SELECT parent, step FROM ripcity_partitioned ORDER BY parent LOOP
        lo := date_trunc(CASE WHEN p.step >= INTERVAL '1 month' THEN 'month' ELSE 'day' END,
                         from_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        WHILE lo <= to_ts LOOP
            hi := ((lo AT TIME ZONE 'UTC') + p.step) AT TIME ZONE 'UTC';
            part := p.parent || '_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
            IF to_regclass(quote_ident(part)) IS NULL THEN
                PERFORM pg_advisory_xact_lock(hashtext('ripcity_partitions:' || p.parent));
                IF to_regclass(quote_ident(part)) IS NULL THEN
                    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                                   part, p.parent, lo, hi);
                    created := created + 1;
                END IF;
            END IF;
            lo := hi;
        END LOOP;
    END LOOP;
    RETURN created;
END $$;

-- Drop the partitions that end at or before cutoff (retention); returns how many it dropped.
CREATE FUNCTION ripcity_drop_partitions_before(cutoff timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    p record;
    dropped integer := 0;
BEGIN
    FOR p IN
        SELECT c.relname AS part, rp.step,
               to_timestamp(right(c.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC' AS lo
        FROM ripcity_partitioned rp
        JOIN pg_inherits i ON i.inhparent = rp.parent::regclass
        JOIN pg_class c ON c.oid = i.inhrelid
    LOOP
        IF ((p.lo AT TIME ZONE 'UTC') + p.step) AT TIME ZONE 'UTC' <= cutoff THEN
            EXECUTE format('DROP TABLE %I', p.part);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END $$;

-- Partitions for the recent past and the coming week exist from the start.
SELECT ripcity_ensure_partitions(now() - INTERVAL '2 days', now() + INTERVAL '7 days');

-- Latest state per listing: fast reads, change detection, deal scores.
CREATE TABLE listings_current (
    marketplace       text COLLATE "C" NOT NULL,
    listing_id        text COLLATE "C" NOT NULL,
    event_id          bigint NOT NULL,
    source_event_id   text COLLATE "C" NOT NULL,
    section           text,
    "row"             text,
    seats             text,
    quantity          integer NOT NULL,
    splits            text,
    price_cents       bigint NOT NULL,
    fees_cents        bigint,
    total_cents       bigint NOT NULL,
    prev_total_cents  bigint,            -- the total before the last change (NULL when new)
    currency          text,
    delivery          text,
    kind              text,
    zone              text,
    first_seen        timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    last_changed      timestamptz NOT NULL,
    gone_at           timestamptz,       -- absent from a complete crawl of its event
    fair_value_cents  bigint,
    deal_score        real,
    deal_rank         integer,
    deal_reason       text,
    model_version     text,
    scored_at         timestamptz,
    PRIMARY KEY (marketplace, listing_id)
) WITH (fillfactor = 80);   -- room for HOT updates (price changes, last_seen touches)
CREATE INDEX listings_current_event_total_idx ON listings_current (event_id, total_cents);
CREATE INDEX listings_current_deals_idx ON listings_current (event_id, deal_score DESC)
    WHERE gone_at IS NULL AND deal_score IS NOT NULL;

-- Hourly state per event, marketplace and section, refreshed from snapshots for charts.
CREATE TABLE listing_rollups_hourly (
    bucket              timestamptz NOT NULL,
    event_id            bigint NOT NULL,
    marketplace         text COLLATE "C" NOT NULL,
    section             text NOT NULL,
    min_total_cents     bigint NOT NULL,
    median_total_cents  bigint NOT NULL,
    max_total_cents     bigint NOT NULL,
    listing_count       integer NOT NULL,
    ticket_count        integer NOT NULL,
    PRIMARY KEY (event_id, bucket, marketplace, section)
);

-- Rows refused by a parser or by ingest, kept aside for inspection.
CREATE TABLE quarantine (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    observed_at      timestamptz NOT NULL,
    marketplace      text COLLATE "C" NOT NULL,
    source           text,            -- URL / file, or the ingest step
    reason           text NOT NULL,
    raw              text,
    listing_id       text COLLATE "C",
    source_event_id  text COLLATE "C",
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_observed_idx ON quarantine (observed_at);
CREATE INDEX quarantine_reason_idx ON quarantine (marketplace, reason);
