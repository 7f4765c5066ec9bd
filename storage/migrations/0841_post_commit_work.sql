-- Post-commit work as a transactional outbox (storage.post_commit): a committed listings
-- batch's deal scoring and alert matching are recorded in the batch's own transaction, so a
-- crash or an outage after the commit cannot lose them. The engine does the work at once
-- and deletes the row; what is left (the actor died, the database went away) is claimed
-- with SKIP LOCKED and retried with backoff until done. Rows retried 5 times or more count
-- as failed on the status line and /ops (they are still retried).
CREATE TABLE post_commit_work (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at       timestamptz NOT NULL DEFAULT now(),
    score_pending    boolean NOT NULL,
    match_pending    boolean NOT NULL,
    listings         bytea,            -- Arrow IPC: the committed batch (to score)
    changes          bytea,            -- Arrow IPC: new listings, price changes, gone (to match)
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now() + interval '20 seconds',
    last_error       text
);
-- Arrow IPC is compressed already: no second compression by TOAST
ALTER TABLE post_commit_work ALTER COLUMN listings SET STORAGE EXTERNAL;
ALTER TABLE post_commit_work ALTER COLUMN changes SET STORAGE EXTERNAL;
CREATE INDEX post_commit_work_due_idx ON post_commit_work (next_attempt_at);
