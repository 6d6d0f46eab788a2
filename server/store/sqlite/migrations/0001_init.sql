-- Razor MK checkin server store, schema 1.
-- Times are Unix nanoseconds (INTEGER); 0 means unset.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('rev', 0);

CREATE TABLE tags (
	name       TEXT PRIMARY KEY,
	rule       TEXT NOT NULL,
	created_ns INTEGER NOT NULL,
	updated_ns INTEGER NOT NULL
);

-- tag_refs: the tags a tag's rule refers to with ["tag", name].
CREATE TABLE tag_refs (
	tag TEXT NOT NULL REFERENCES tags (name) ON DELETE CASCADE,
	ref TEXT NOT NULL REFERENCES tags (name),
	PRIMARY KEY (tag, ref)
);
CREATE INDEX tag_refs_ref ON tag_refs (ref);

CREATE TABLE policies (
	name       TEXT PRIMARY KEY,
	rank       INTEGER NOT NULL,
	enabled    INTEGER NOT NULL,
	max_count  INTEGER NOT NULL,
	target     TEXT NOT NULL,
	created_ns INTEGER NOT NULL,
	updated_ns INTEGER NOT NULL
);

-- policy_tags: a tag may be a stored tag or a system tag (cpus_2…), so
-- there is no foreign key to tags; DeleteTag checks the references.
CREATE TABLE policy_tags (
	policy TEXT NOT NULL REFERENCES policies (name) ON DELETE CASCADE,
	tag    TEXT NOT NULL,
	PRIMARY KEY (policy, tag)
);
CREATE INDEX policy_tags_tag ON policy_tags (tag);

CREATE TABLE nodes (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	rev           INTEGER NOT NULL,
	uuid          TEXT UNIQUE,
	facts         TEXT NOT NULL,
	last_state    TEXT NOT NULL,
	created_ns    INTEGER NOT NULL,
	registered_ns INTEGER NOT NULL,
	checkin_ns    INTEGER NOT NULL DEFAULT 0,
	policy        TEXT REFERENCES policies (name),
	bound_ns      INTEGER NOT NULL DEFAULT 0,
	boot_state    TEXT NOT NULL DEFAULT '',
	boot_state_ns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX nodes_policy ON nodes (policy);

-- node_macs: the primary key is what keeps a MAC on one node only.
CREATE TABLE node_macs (
	mac      TEXT PRIMARY KEY,
	node_seq INTEGER NOT NULL REFERENCES nodes (seq) ON DELETE CASCADE
);
CREATE INDEX node_macs_node ON node_macs (node_seq);

CREATE TABLE commands (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	node_seq     INTEGER NOT NULL REFERENCES nodes (seq) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	queued_ns    INTEGER NOT NULL,
	delivered_ns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX commands_node ON commands (node_seq, delivered_ns, id);

CREATE TABLE tokens (
	key       TEXT PRIMARY KEY,
	token     TEXT NOT NULL,
	issued_ns INTEGER NOT NULL
);

CREATE TABLE leases (
	mac        TEXT PRIMARY KEY,
	ip         TEXT NOT NULL,
	hostname   TEXT NOT NULL,
	expires_ns INTEGER NOT NULL
);
CREATE INDEX leases_ip ON leases (ip);
