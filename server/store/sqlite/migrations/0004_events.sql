-- Node events: each node's timeline (DHCP, files sent, boot scripts,
-- registrations, bindings, commands, refusals). AUTOINCREMENT: an id is
-- never reused after pruning, so a stream resumes after the last id seen.

CREATE TABLE events (
	id    INTEGER PRIMARY KEY AUTOINCREMENT,
	at_ns INTEGER NOT NULL,
	type  TEXT NOT NULL,
	node  TEXT NOT NULL DEFAULT '',
	mac   TEXT NOT NULL DEFAULT '',
	attrs TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_node ON events (node, id);
CREATE INDEX events_mac ON events (mac, id);
CREATE INDEX events_at ON events (at_ns);
