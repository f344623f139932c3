-- Every outbox insert announces its id on the channel `relreg_outbox`; PostgreSQL delivers
-- the notification when the inserting transaction commits (never for one that rolls back),
-- so each server's listener wakes its outbox readers at once (src/store/wakeups.rs).
CREATE OR REPLACE FUNCTION relreg_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('relreg_outbox', NEW.id::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER outbox_notify
    AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION relreg_outbox_notify();
