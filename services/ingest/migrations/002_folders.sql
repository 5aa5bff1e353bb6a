-- Connected folders: directories on the server that a tenant registered, scanned once and then watched.
-- `path` is the resolved real path (no symlinks, no `..`), so one directory cannot be registered twice
-- under two spellings.
CREATE TABLE folders (
    folder_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    path text NOT NULL,
    -- the tenant's zone when it registered: a date folder or a local time means a day there
    time_zone text NOT NULL DEFAULT 'UTC',
    created_at timestamptz NOT NULL DEFAULT now(),
    -- when a watcher last finished walking the whole folder
    last_scan_at timestamptz,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'watching', 'error')),
    error text,
    UNIQUE (tenant_id, path)
);

-- Every file a watcher staged (or found to be a duplicate), by its place in the folder: a file is staged
-- once; the same place with different bytes is a new asset; size and mtime let a rescan skip known files
-- without reading them.
CREATE TABLE folder_files (
    folder_id uuid NOT NULL REFERENCES folders (folder_id) ON DELETE CASCADE,
    relative_path text NOT NULL,
    size bigint NOT NULL,
    mtime_ns bigint NOT NULL,
    sha256 text NOT NULL,
    asset_id uuid NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (folder_id, relative_path)
);
-- "has this tenant already staged these bytes from any folder?"
CREATE INDEX folder_files_sha256 ON folder_files (sha256);
