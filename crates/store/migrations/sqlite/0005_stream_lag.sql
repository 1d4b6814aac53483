-- The newest source timestamp a stream has mapped, for its lag.
ALTER TABLE stream_state ADD COLUMN newest_source_at TEXT;
