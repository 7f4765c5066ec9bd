-- Two writers whose first batches fall on a day without a partition both found it missing,
-- and the second, once it held the advisory lock, still saw it missing: to_regclass answers
-- from the backend's catalog cache, which an advisory lock does not refresh, so it created
-- the partition again ("relation ... already exists") and its whole write failed. The
-- creation now tolerates the partition having been made meanwhile.
CREATE OR REPLACE FUNCTION ripcity_ensure_partitions(from_ts timestamptz, to_ts timestamptz)
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
                BEGIN
                    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                                   part, p.parent, lo, hi);
                    created := created + 1;
                EXCEPTION WHEN duplicate_table OR unique_violation THEN
                    NULL;  -- another transaction created it while this one waited
                END;
            END IF;
            lo := hi;
        END LOOP;
    END LOOP;
    RETURN created;
END $$;
