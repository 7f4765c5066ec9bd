-- Each event's listings at its last crawl (or as discovery counted them), journaled with its
-- schedule: the frontier fills a shard with events up to one write chunk by these sizes
-- (engine.crawl.frontier), and a restarted coordinator keeps sizing shards the same way.
ALTER TABLE crawl_frontier_events ADD COLUMN listings integer;
