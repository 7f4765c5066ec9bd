-- The crawl coordinator's frontier, journaled so a restarted coordinator resumes
-- (storage.frontier): per run, every known event's schedule and every queued or leased
-- shard with its attempt and retry time. A run's rows go when its engine stops.
CREATE TABLE crawl_frontier_runs (
    run         text PRIMARY KEY,
    continuous  boolean NOT NULL DEFAULT false,
    counts      jsonb NOT NULL DEFAULT '{}',
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crawl_frontier_events (
    run              text NOT NULL REFERENCES crawl_frontier_runs ON DELETE CASCADE,
    spider           text NOT NULL,
    source_event_id  text NOT NULL,
    starts_at        timestamptz,
    due_at           timestamptz NOT NULL,
    last_low         bigint,
    crawls           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (run, spider, source_event_id)
);

CREATE TABLE crawl_frontier_shards (
    run         text NOT NULL REFERENCES crawl_frontier_runs ON DELETE CASCADE,
    shard_id    text NOT NULL,
    shard       jsonb NOT NULL,
    attempt     integer NOT NULL,
    not_before  timestamptz,     -- backing off after a failure until then
    leased_to   text,            -- the crawl worker running it (NULL: queued)
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run, shard_id)
);
