-- Freshness (issue 19): "prices as of" per marketplace and event is the last complete crawl
-- (source_event_crawls.complete_at); whether a marketplace is answering at all is its newest
-- complete crawl of any event. This index answers that per marketplace without a scan.
CREATE INDEX source_event_crawls_recent_idx ON source_event_crawls (marketplace, complete_at);
