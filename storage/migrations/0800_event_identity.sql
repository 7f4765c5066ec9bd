-- Event identity: venues known under each marketplace's ids, the matcher's decisions kept
-- for operators, and the ids of merged events redirecting to their survivor.

CREATE TABLE venue_aliases (
    marketplace      text COLLATE "C" NOT NULL,
    source_venue_id  text COLLATE "C" NOT NULL,
    venue_id         bigint NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    name             text,             -- as that marketplace names it
    learned          text NOT NULL,    -- 'name' | 'event match' | 'new'
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (marketplace, source_venue_id)
);
CREATE INDEX venue_aliases_venue_idx ON venue_aliases (venue_id);

-- one row per decision: a marketplace event joined to (or kept apart from) a stored event
CREATE TABLE event_match_decisions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    marketplace      text COLLATE "C" NOT NULL,
    source_event_id  text COLLATE "C" NOT NULL,
    event_id         bigint,            -- the event it now belongs to
    candidate_id     bigint,            -- the best other event considered (NULL: none)
    decision         text NOT NULL,     -- matched | new | merged | split
    score            real,
    reason           text NOT NULL,
    decided_by       text NOT NULL DEFAULT 'matcher',
    decided_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_match_decisions_source_idx
    ON event_match_decisions (marketplace, source_event_id);
CREATE INDEX event_match_decisions_event_idx ON event_match_decisions (event_id);

-- the local date of an event whose time is to be announced (starts_at NULL)
ALTER TABLE events ADD COLUMN start_date date;

-- what each marketplace event says it is elsewhere ("ticketmaster:vvG1..."), so a record
-- that arrives after the one naming it is still joined to it
ALTER TABLE event_sources ADD COLUMN cross_refs text[] NOT NULL DEFAULT '{}';
CREATE INDEX event_sources_cross_refs_idx ON event_sources USING gin (cross_refs);

-- a merged-away event id answers with its survivor (a chain is followed to its end)
CREATE TABLE event_redirects (
    old_id      bigint PRIMARY KEY,
    new_id      bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    merged_at   timestamptz NOT NULL DEFAULT now(),
    moved       jsonb NOT NULL DEFAULT '{}'   -- what the merge moved, for a split to undo
);
CREATE INDEX event_redirects_new_idx ON event_redirects (new_id);
