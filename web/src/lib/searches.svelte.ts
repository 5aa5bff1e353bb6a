// The workspace's saved searches, listed in the sidebar and added to from the gallery.
import { api } from "./api/client";
import type { Schemas } from "./api/client";

export type SavedSearch = Schemas["SavedSearch"];

class Searches {
  list: SavedSearch[] = $state([]);

  async load(): Promise<void> {
    const { data } = await api.GET("/api/v1/searches");
    if (data) this.list = data;
  }
}

export const searches = new Searches();

/** The gallery address of a saved query: /app/gallery?q=fox&model=... */
export function galleryHref(query: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `/app/gallery?${text}` : "/app/gallery";
}
