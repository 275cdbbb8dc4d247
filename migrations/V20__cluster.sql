-- Several daemons on one database (API.md, "Running several daemons"): users are split into 32
-- partitions (the low five bits of the user id) and each partition's open positions are watched by
-- the one daemon holding its lease. A daemon renews its leases with every heartbeat; one that stops
-- renewing loses them when they lapse (CLUSTER_FAILOVER_SECONDS) and the others take them over.
CREATE TABLE cluster_nodes (
    node_id uuid PRIMARY KEY,
    started_at timestamptz NOT NULL,
    last_heartbeat_at timestamptz NOT NULL,
    positions_watched integer NOT NULL DEFAULT 0,
    partitions_held integer NOT NULL DEFAULT 0,
    -- Set by a graceful stop, which hands its partitions over at once.
    stopped_at timestamptz
);

CREATE TABLE cluster_partitions (
    partition smallint PRIMARY KEY CHECK (partition BETWEEN 0 AND 31),
    owner uuid,
    lease_until timestamptz,
    owner_since timestamptz
);

INSERT INTO cluster_partitions (partition) SELECT generate_series(0, 31);

-- The partition of a user id, as the daemon computes it (`cluster::partition_of`).
CREATE FUNCTION user_partition(user_id uuid) RETURNS smallint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (get_byte(uuid_send(user_id), 15) & 31)::smallint $$;
