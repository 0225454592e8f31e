-- SQLite keeps each user's conversation list in a table of its own (its V11); PostgreSQL
-- computes lists on read. Kept here so both dialects count the same versions. Measured
-- before choosing (BENCHMARKS.md, issue 27): the same table, kept by triggers, cut a
-- 1,000-conversation list from 2.2 to 0.7 ms of PostgreSQL CPU but added 70–90 µs to every
-- send (an upsert of two rows, on top of a send's ~160 µs).
SELECT 1;
