-- A re-run shard stamps the same observation time, so its rejected rows are the same
-- rows: quarantine keeps each (observation, marketplace, source, reason, listing, fragment)
-- once (the inserts say ON CONFLICT DO NOTHING).
DELETE FROM quarantine q USING quarantine d
WHERE q.id > d.id AND q.observed_at = d.observed_at AND q.marketplace = d.marketplace
  AND q.source IS NOT DISTINCT FROM d.source AND q.reason = d.reason
  AND q.listing_id IS NOT DISTINCT FROM d.listing_id
  AND md5(coalesce(q.raw, '')) = md5(coalesce(d.raw, ''));
CREATE UNIQUE INDEX quarantine_once_idx ON quarantine (
    observed_at, marketplace, coalesce(source, ''), reason, coalesce(listing_id, ''),
    md5(coalesce(raw, '')));
