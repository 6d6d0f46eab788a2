-- Checkin times move to their own narrow table: they are written for
-- every node every flush, and rewriting a node's row (facts included)
-- for a timestamp would write most of the database to the WAL each time.

CREATE TABLE node_checkins (
	node_seq   INTEGER PRIMARY KEY REFERENCES nodes (seq) ON DELETE CASCADE,
	checkin_ns INTEGER NOT NULL,
	last_state TEXT NOT NULL
);
INSERT INTO node_checkins (node_seq, checkin_ns, last_state)
	SELECT seq, checkin_ns, last_state FROM nodes WHERE checkin_ns > 0;
ALTER TABLE nodes DROP COLUMN checkin_ns;
