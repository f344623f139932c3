-- Events leave the database. The relay reads the outbox rows not delivered yet (a partial
-- index keeps that read small), sets `delivered_at` once every sink has them, and purges
-- delivered rows after the retention period in batches. Webhook subscriptions and their
-- deliveries (one row per subscription and event, with the retry schedule) live here too.
-- Online-safe: new indexes, a trigger and new tables; nothing the previous release reads
-- changes meaning. Keep in step with migrations/postgres.

-- Rows written before the relay existed had no subscriber: they count as delivered now
-- (and are purged after the retention period like any other).
UPDATE outbox SET delivered_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
WHERE delivered_at IS NULL;

CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX outbox_by_repo ON outbox (repo, id);

-- Per-repo order needs nothing on SQLite: there is one writer at a time, so ids become
-- visible in the order they are drawn.

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL REFERENCES repos (key),
    url TEXT NOT NULL,
    -- Space-separated topics; empty: every topic.
    topics TEXT NOT NULL,
    -- The signing key, base64 (what follows `whsec_`).
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE INDEX webhooks_by_repo ON webhooks (repo);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL,
    topic TEXT NOT NULL,
    -- The exact JSON body signed and sent (kept so redelivery sends the same bytes after the
    -- outbox row is purged).
    body TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_attempt_at BIGINT,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (webhook_id, event_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
WHERE state = 'PENDING';
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (delivered_at)
WHERE state = 'DELIVERED';
