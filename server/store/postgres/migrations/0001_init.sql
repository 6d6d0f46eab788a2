-- Razor MK checkin server store on PostgreSQL, schema 1.
-- Times are timestamptz (microseconds); NULL means unset.

CREATE TABLE tags (
	name    text PRIMARY KEY,
	rule    text NOT NULL,
	created timestamptz NOT NULL,
	updated timestamptz NOT NULL
);

-- tag_refs: the tags a tag's rule refers to with ["tag", name].
CREATE TABLE tag_refs (
	tag text NOT NULL REFERENCES tags (name) ON DELETE CASCADE,
	ref text NOT NULL REFERENCES tags (name),
	PRIMARY KEY (tag, ref)
);
CREATE INDEX tag_refs_ref ON tag_refs (ref);

CREATE TABLE policies (
	name      text PRIMARY KEY,
	rank      integer NOT NULL,
	enabled   boolean NOT NULL,
	max_count integer NOT NULL,
	target    text NOT NULL,
	created   timestamptz NOT NULL,
	updated   timestamptz NOT NULL
);

-- policy_tags: a tag may be a stored tag or a system tag (cpus_2…), so
-- there is no foreign key to tags; DeleteTag checks the references.
CREATE TABLE policy_tags (
	policy text NOT NULL REFERENCES policies (name) ON DELETE CASCADE,
	tag    text NOT NULL,
	PRIMARY KEY (policy, tag)
);
CREATE INDEX policy_tags_tag ON policy_tags (tag);

-- node_rev orders the changes to nodes (store.Node.Rev).
CREATE SEQUENCE node_rev;

CREATE TABLE nodes (
	seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	rev           bigint NOT NULL,
	uuid          text UNIQUE,
	-- facts: the JSON object as registered; json (not jsonb) keeps
	-- escapes such as \u0000 that jsonb rejects.
	facts         json NOT NULL,
	last_state    text NOT NULL,
	created       timestamptz NOT NULL,
	registered    timestamptz NOT NULL,
	checkin       timestamptz,
	policy        text REFERENCES policies (name),
	bound         timestamptz,
	boot_state    text NOT NULL DEFAULT '',
	boot_state_at timestamptz
);
CREATE INDEX nodes_policy ON nodes (policy);
CREATE INDEX nodes_created ON nodes (created, seq);

-- node_macs: the primary key is what keeps a MAC on one node only.
CREATE TABLE node_macs (
	mac      text PRIMARY KEY,
	node_seq bigint NOT NULL REFERENCES nodes (seq) ON DELETE CASCADE
);
CREATE INDEX node_macs_node ON node_macs (node_seq);

CREATE TABLE commands (
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	node_seq  bigint NOT NULL REFERENCES nodes (seq) ON DELETE CASCADE,
	name      text NOT NULL,
	queued    timestamptz NOT NULL,
	delivered timestamptz
);
CREATE INDEX commands_pending ON commands (node_seq, id) WHERE delivered IS NULL;
CREATE INDEX commands_node ON commands (node_seq, id);

CREATE TABLE tokens (
	key    text PRIMARY KEY,
	token  text NOT NULL,
	issued timestamptz NOT NULL
);

-- leases: one lease per MAC, and the unique address is what keeps an
-- address from being leased to two clients; PutLease removes an expired
-- holder first.
CREATE TABLE leases (
	mac      text PRIMARY KEY,
	ip       inet NOT NULL CONSTRAINT leases_ip_unique UNIQUE,
	hostname text NOT NULL,
	expires  timestamptz NOT NULL
);
