-- The runner asks "when is the next job due?" before every claim. Reading
-- that as one MIN over every pending row made each claim cost O(pending):
-- a backlog of 30,000 order emails (a checkout burst) turned the runner
-- quadratic. Now the earliest unlocked job comes from jobs_due in index
-- order, and the leases still running from this index, which only holds
-- rows a runner has claimed and not yet finished (every outcome clears
-- locked_until). jobs_due also gets id, so the claim's ORDER BY run_at, id
-- is the index's order instead of a sort of every due row.
CREATE INDEX jobs_leases ON jobs (locked_until)
    WHERE locked_until IS NOT NULL AND done_at IS NULL AND failed_at IS NULL;
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE done_at IS NULL AND failed_at IS NULL;
