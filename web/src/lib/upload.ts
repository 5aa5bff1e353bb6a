// Uploads from the Import page: which files go in which request, how one request's results map back to
// the files that were sent, and the request itself. XMLHttpRequest, not fetch: only XHR reports upload
// progress. The pure parts are tested in upload.test.ts.
import type { UploadResult } from "./api/types";

/** What the file input and the drop zone take: images, and zips (the API expands them). */
export const ACCEPT = "image/*,.zip,application/zip";

// A few files per request: each answer waits for the pipeline's verdict on its files, so small requests
// show results early; a big file goes alone.
export const BATCH_FILES = 4;
export const BATCH_BYTES = 64 * 1024 * 1024;

export interface Sized {
  size: number;
}

/** Split `files` into requests of at most `maxFiles` files and about `maxBytes` (a larger file alone). */
export function batches<T extends Sized>(files: T[], maxFiles = BATCH_FILES, maxBytes = BATCH_BYTES): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const file of files) {
    if (current.length && (current.length >= maxFiles || bytes + file.size > maxBytes)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(file);
    bytes += file.size;
  }
  if (current.length) out.push(current);
  return out;
}

/** Whether a dropped file is one the API can take (an image or a zip); others are refused here. */
export function acceptable(file: { name: string; type: string }): boolean {
  if (file.type.startsWith("image/")) return true;
  if (file.type === "application/zip" || file.type === "application/x-zip-compressed") return true;
  // some systems give no type: go by the name
  return /\.(png|jpe?g|webp|gif|avif|heic|heif|tiff?|bmp|jxl|zip)$/i.test(file.name);
}

/**
 * The API answers one result per file, in order, except that a zip answers one per entry, each named
 * `archive.zip/inner/path.png`. Given the names sent and the results, the results that belong to each.
 */
export function resultsByFile(names: string[], results: UploadResult[]): UploadResult[][] {
  const out: UploadResult[][] = names.map(() => []);
  let j = 0;
  names.forEach((name, i) => {
    const prefix = `${name}/`;
    if (j < results.length && results[j].filename.startsWith(prefix)) {
      while (j < results.length && results[j].filename.startsWith(prefix)) out[i].push(results[j++]);
    } else if (j < results.length) {
      out[i].push(results[j++]);
    }
  });
  // anything left (a name the API cleaned differently) stays with the last file rather than vanish
  if (j < results.length && out.length) out[out.length - 1].push(...results.slice(j));
  return out;
}

/** Bytes in words: "812 B", "14.2 KB", "3.1 MB" (powers of 1024, one decimal below 100). */
export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${n} B`;
  return `${value < 100 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

export type Outcome = UploadResult["status"];

/** How many results had each status, in words: "3 imported, 2 duplicates, 1 rejected". */
export function tally(results: { status: Outcome }[]): string {
  const order: Outcome[] = ["imported", "queued", "duplicate", "rejected"];
  return order
    .map((status) => [status, results.filter((r) => r.status === status).length] as const)
    .filter(([, n]) => n)
    .map(([status, n]) => `${n} ${status}${status === "duplicate" && n > 1 ? "s" : ""}`)
    .join(", ");
}

/** A file as chosen or dropped: `folder` is its directory inside a dropped folder ("" otherwise). */
export interface Picked {
  file: File;
  folder: string;
}

/** One file of a request, with what the API reads next to it. */
export interface Part {
  file: File;
  folder: string;
  /** the text of its JSON sidecar, or "" */
  sidecar: string;
}

/**
 * Which JSON files are sidecars: `name.png.json` or `name.json` next to `name.png` (as `atelier sync`
 * and zips read them; their `enqueue_time` or `creation_date` dates the image). Given every picked path
 * (folder/name), the sidecar's index for each image's index.
 */
export function sidecars(paths: string[]): Map<number, number> {
  const isJson = (p: string) => /\.json$/i.test(p);
  const byPath = new Map<string, number>();
  const byStem = new Map<string, number[]>();
  paths.forEach((path, i) => {
    if (isJson(path)) return;
    byPath.set(path, i);
    const stem = path.replace(/\.[^./]+$/, "");
    byStem.set(stem, [...(byStem.get(stem) ?? []), i]);
  });
  const out = new Map<number, number>();
  paths.forEach((path, j) => {
    if (!isJson(path)) return;
    const base = path.slice(0, -".json".length);
    const image = byPath.get(base);
    if (image !== undefined) out.set(image, j);
    else for (const i of byStem.get(base) ?? []) if (!out.has(i)) out.set(i, j);
  });
  return out;
}

export function pathOf({ file, folder }: Picked): string {
  return folder ? `${folder}/${file.name}` : file.name;
}

/** The multipart body: each file, then its `last_modified` (ms since the epoch), folder and sidecar. */
export function uploadBody(parts: Part[]): FormData {
  const form = new FormData();
  for (const { file, folder, sidecar } of parts) {
    form.append("files", file, file.name);
    form.append("last_modified", String(file.lastModified));
    form.append("folder", folder);
    form.append("sidecar", sidecar);
  }
  return form;
}

export class UploadError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** seconds, from a 503's Retry-After */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

/** Tries of one request while the server answers 503 (its object store or broker is away for a moment). */
export const BUSY_TRIES = 3;

/** Tries in all for a request over the workspace's upload limits (429): the server is well, only pacing. */
export const THROTTLED_TRIES = 20;

/**
 * How long to wait (ms) before sending a refused request again, or null to give up: a 503 (nothing was
 * imported, the server says when to come back), at most BUSY_TRIES times in all, and a 429 (over the
 * workspace's upload limits: nothing was read), at most THROTTLED_TRIES times, after its Retry-After.
 */
export function retryDelay(status: number, retryAfter: number | null, attempt: number): number | null {
  const tries = status === 503 ? BUSY_TRIES : status === 429 ? THROTTLED_TRIES : 0;
  if (attempt + 1 >= tries) return null;
  const seconds = retryAfter != null && retryAfter >= 0 ? Math.min(retryAfter, 60) : 5 * (attempt + 1);
  return seconds * 1000;
}

/** The message of a refused request: the API's `detail` when it is text. */
export function refusal(status: number, body: string): string {
  try {
    const detail = (JSON.parse(body) as { detail?: unknown }).detail;
    if (typeof detail === "string") return detail;
  } catch {
    // not JSON: a proxy's page, say
  }
  if (status === 413) return "too large for one upload";
  if (status === 0) return "the server could not be reached";
  return `the server answered ${status}`;
}

/**
 * POST the files to /api/v1/assets; `onprogress` hears the fraction of the body sent (0..1). Resolves to
 * the per-file results, rejects with an UploadError (status 0: no answer).
 */
export function upload(parts: Part[], onprogress: (sent: number) => void): Promise<UploadResult[]> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/assets");
    xhr.withCredentials = true;
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total) onprogress(event.loaded / event.total);
    };
    xhr.upload.onload = () => onprogress(1);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as UploadResult[]);
        } catch {
          reject(new UploadError("the answer could not be read", xhr.status));
        }
      } else {
        const after = Number.parseInt(xhr.getResponseHeader("Retry-After") ?? "", 10);
        reject(
          new UploadError(
            refusal(xhr.status, xhr.responseText),
            xhr.status,
            Number.isNaN(after) ? null : after,
          ),
        );
      }
    };
    xhr.onerror = () => reject(new UploadError(refusal(0, ""), 0));
    xhr.send(uploadBody(parts));
  });
}

/** One file on the Import page, from choosing it to its results. */
export interface Entry {
  key: number;
  name: string;
  size: number;
  /**
   * waiting for its request; sending its bytes; checking (sent, the pipeline is reading it); done; failed
   * (the request did not go through); skipped (not an image or a zip: never sent)
   */
  state: "waiting" | "sending" | "checking" | "done" | "failed" | "skipped";
  /** fraction of the file's bytes sent, 0..1 */
  sent: number;
  results: UploadResult[];
  /** why the request failed (state "failed") */
  error: string | null;
}

/** A file's outcome in words: "imported", "rejected: not an image", "3 imported, 1 duplicate" (a zip). */
export function outcome(entry: Pick<Entry, "state" | "results" | "error">): string {
  if (entry.state === "waiting") return entry.error ? `waiting: ${entry.error}` : "waiting";
  if (entry.state === "sending") return "uploading";
  if (entry.state === "checking") return "sent, importing…";
  if (entry.state === "failed") return `not sent: ${entry.error ?? "the upload failed"}`;
  if (entry.state === "skipped") return "skipped: not an image or a zip";
  const [only, ...more] = entry.results;
  if (!only) return "no result";
  if (!more.length && only.status === "rejected") return `rejected: ${only.reason ?? "no reason given"}`;
  if (!more.length && only.status === "queued") return "queued: stored, its import finishes shortly";
  if (!more.length) return only.status;
  return tally(entry.results);
}
