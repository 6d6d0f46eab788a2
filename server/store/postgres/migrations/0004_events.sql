-- Razor MK store, schema 4: node events, each node's timeline. Writers
-- take an advisory lock (events.go), so ids become visible in order and a
-- stream that reads "id > last seen" from any replica misses none.

CREATE TABLE events (
	id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at    timestamptz NOT NULL,
	type  text NOT NULL,
	node  text NOT NULL DEFAULT '',
	mac   text NOT NULL DEFAULT '',
	attrs text NOT NULL DEFAULT '{}'
);
CREATE INDEX events_node ON events (node, id);
CREATE INDEX events_mac ON events (mac, id);
CREATE INDEX events_at ON events (at);
