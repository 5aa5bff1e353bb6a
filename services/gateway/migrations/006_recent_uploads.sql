-- A third kind of row in upload_buckets: `recent`, the files a workspace staged lately, decaying by e
-- every minute (services/gateway/quotas.py). With the files waiting, it chooses an upload's lane.
ALTER TABLE upload_buckets DROP CONSTRAINT upload_buckets_bucket_check;
ALTER TABLE upload_buckets ADD CONSTRAINT upload_buckets_bucket_check
    CHECK (bucket IN ('requests', 'files', 'recent'));
