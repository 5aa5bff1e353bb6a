// The gallery's filters as they live in the address bar (so a search can be bookmarked) and as the API
// takes them: the same names, `from`/`to` as ISO instants, `has_time` as true/false; `flag=pick` for
// keepers only, `flag=reject` for rejects only and `include_rejected=true` to show rejects (hidden
// unless asked for).
import type { Schemas } from "./api/client";

export interface GalleryFilters {
  q?: string;
  tool?: string;
  model?: string;
  lora?: string;
  from?: string;
  to?: string;
  has_time?: boolean;
  flag?: "pick" | "reject";
  include_rejected?: true;
}

const TEXT_KEYS = ["q", "tool", "model", "lora", "from", "to"] as const;

export function readFilters(params: URLSearchParams): GalleryFilters {
  const filters: GalleryFilters = {};
  for (const key of TEXT_KEYS) {
    const value = params.get(key)?.trim();
    if (value) filters[key] = value;
  }
  const hasTime = params.get("has_time");
  if (hasTime === "true" || hasTime === "false") filters.has_time = hasTime === "true";
  const flag = params.get("flag");
  if (flag === "pick" || flag === "reject") filters.flag = flag;
  if (params.get("include_rejected") === "true") filters.include_rejected = true;
  return filters;
}

export function filtersQuery(filters: GalleryFilters): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  return params.toString();
}

/** What a saved search keeps: every filter, "Keepers only" and "Show rejected" included, so it opens as
 * it was saved (the flags are read again each time it is opened). */
export function savedQuery(filters: GalleryFilters): Schemas["GalleryQuery"] {
  return { ...filters };
}

export function isFiltered(filters: GalleryFilters): boolean {
  return Object.values(filters).some((v) => v !== undefined && v !== "");
}
