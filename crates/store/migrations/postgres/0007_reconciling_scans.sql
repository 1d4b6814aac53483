-- Reconciling full scans: which scan last saw each landed record, and which
-- scan a stream is in the middle of. A completed scan soft-deletes what it
-- did not see.
ALTER TABLE raw_records ADD COLUMN seen_scan BIGINT;
ALTER TABLE stream_state ADD COLUMN scan_id BIGINT;
