-- What each channel offers, as steps over app-version sort keys: from `from_key` up to
-- `to_key` (NULL: no upper end), clients of `platform` ('' for any platform no release of
-- the channel names) are offered `release_id`, or else told to update their app to
-- `app_update_to`, or else nothing. Rewritten with every change of the channel, so that
-- "latest" is one primary-key lookup whatever the channel's depth. Channels published before
-- this table existed are filled in when the server starts. Keep in step with migrations/sqlite.
CREATE TABLE channel_offers (
    repo TEXT NOT NULL,
    channel TEXT NOT NULL,
    platform TEXT NOT NULL,
    from_key TEXT COLLATE "C" NOT NULL,
    to_key TEXT COLLATE "C",
    release_id TEXT,
    app_update_to TEXT,
    PRIMARY KEY (repo, channel, platform, from_key)
);
