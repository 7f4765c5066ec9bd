"""Event identity as the engine sees it: its quality against the sandbox's truth
(``quality``) and the operators' merges and splits (``storage.events.merge`` does the work)."""
