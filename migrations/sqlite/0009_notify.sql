-- Nothing to store: on SQLite the process that commits an outbox event wakes its own outbox
-- readers (src/store/wakeups.rs); the PostgreSQL migration of this number adds the NOTIFY
-- trigger.
SELECT 1;
