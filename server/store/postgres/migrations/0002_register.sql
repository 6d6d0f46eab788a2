-- Razor MK store, schema 2: registration in one statement for the cases
-- that involve at most one existing node (a new machine, or a known one
-- registering again), which are nearly all of them. It returns no row
-- when more nodes are involved (MACs moving between nodes, duplicates to
-- merge, a NIC moved to another machine): the caller then runs the
-- general merge, whose identity rules (store.Match) live in Go.

CREATE FUNCTION razor_register(p_keys bigint[], p_macs text[], p_uuid text, p_facts json, p_state text, p_at timestamptz)
RETURNS TABLE (seq bigint, rev bigint, uuid text, last_state text, created timestamptz, registered timestamptz,
	checkin timestamptz, policy text, bound timestamptz, boot_state text, boot_state_at timestamptz,
	pending bigint, macs text[], is_new boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	cands bigint[];
	c_seq bigint;
	c_uuid text;
	fresh boolean;
BEGIN
	-- Registrations sharing a MAC or the UUID wait for each other.
	PERFORM pg_advisory_xact_lock(k) FROM unnest(p_keys) AS k;
	-- Each statement here sees what committed before it started, so the
	-- nodes are locked first and then read.
	SELECT array_agg(l.seq) INTO cands FROM (
		SELECT n.seq FROM nodes n
		WHERE n.seq IN (SELECT m.node_seq FROM node_macs m WHERE m.mac = ANY (p_macs)
			UNION SELECT u.seq FROM nodes u WHERE u.uuid = p_uuid)
		ORDER BY n.seq FOR UPDATE) AS l;
	IF cands IS NULL THEN
		INSERT INTO nodes (rev, uuid, facts, last_state, created, registered)
			VALUES (nextval('node_rev'), NULLIF(p_uuid, ''), p_facts, p_state, p_at, p_at)
			RETURNING nodes.seq INTO c_seq;
		INSERT INTO node_macs (mac, node_seq) SELECT x, c_seq FROM unnest(p_macs) AS x;
		fresh := true;
	ELSIF cardinality(cands) = 1 THEN
		c_seq := cands[1];
		SELECT n.uuid INTO c_uuid FROM nodes n WHERE n.seq = c_seq;
		IF p_uuid <> '' AND c_uuid IS NOT NULL AND c_uuid <> p_uuid THEN
			RETURN; -- its MACs moved to another machine: the general path
		END IF;
		UPDATE nodes SET rev = nextval('node_rev'), facts = p_facts, last_state = p_state, registered = p_at,
			uuid = COALESCE(NULLIF(p_uuid, ''), nodes.uuid)
			WHERE nodes.seq = c_seq;
		-- The only holder of any of these MACs is this node.
		INSERT INTO node_macs (mac, node_seq) SELECT x, c_seq FROM unnest(p_macs) AS x
			ON CONFLICT (mac) DO NOTHING;
		fresh := false;
	ELSE
		RETURN; -- several nodes involved: the general path
	END IF;
	RETURN QUERY SELECT n.seq, n.rev, COALESCE(n.uuid, ''), n.last_state, n.created, n.registered, n.checkin,
		COALESCE(n.policy, ''), n.bound, n.boot_state, n.boot_state_at,
		(SELECT count(*) FROM commands c WHERE c.node_seq = n.seq AND c.delivered IS NULL),
		COALESCE((SELECT array_agg(m.mac ORDER BY m.mac COLLATE "C") FROM node_macs m WHERE m.node_seq = n.seq), '{}'),
		fresh
		FROM nodes n WHERE n.seq = c_seq;
END $$;
