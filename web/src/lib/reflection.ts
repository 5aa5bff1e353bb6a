// What the reflection pages need that is plain logic: the button's label, reading the 402 problem, the
// evolution strip's phases and the thumbnails a statement cites. No state, no I/O: tested alone.
import type { Schemas } from "./api/client";

export type Quote = Schemas["Quote"];
export type Reflection = Schemas["Reflection"];
export type Statement = Schemas["Statement"];
export type Pack = Schemas["Pack"];

/** The API refuses a reflection below this many images; the page does not offer one either. */
export const MIN_IMAGES = 50;
/** The poll fallback's period while a reflection runs (the live feed usually answers first). */
export const POLL_MS = 2500;
/** The curator's name, as the product says it. */
export const CURATOR = "the AI Museum Curator";

export function creditsText(n: number): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? "credit" : "credits"}`;
}

/** "Reflect on this session · 2 credits", or without the price until the quote is in. */
export function reflectLabel(quote: Pick<Quote, "credits"> | null): string {
  return quote ? `Reflect on this session · ${creditsText(quote.credits)}` : "Reflect on this session";
}

/** A quote about to expire (within `marginMs`) is asked again before the cost dialog shows it. */
export function quoteStale(quote: Pick<Quote, "expires_at">, now: number, marginMs = 60_000): boolean {
  const expires = Date.parse(quote.expires_at);
  return Number.isNaN(expires) || expires - now < marginMs;
}

export function canReflect(assetCount: number): boolean {
  return assetCount >= MIN_IMAGES;
}

/** Still being written: pending (queued) or running. */
export function isRunning(r: Pick<Reflection, "status"> | null | undefined): boolean {
  return r?.status === "pending" || r?.status === "running";
}

export type Insufficient = { price: number; available: number; balance: number; packs: Pack[] };

/** The 402 `application/problem+json` of a confirm, or null when the error is something else. */
export function insufficient(error: unknown): Insufficient | null {
  if (!error || typeof error !== "object") return null;
  const e = error as Record<string, unknown>;
  if (typeof e.type !== "string" || !e.type.endsWith("insufficient-credits")) return null;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  return {
    price: num(e.price),
    available: num(e.available ?? e.balance),
    balance: num(e.balance),
    packs: Array.isArray(e.packs) ? (e.packs as Pack[]) : [],
  };
}

/** The newest completed reflection of a list given newest first (what the view shows). */
export function latestCompleted(list: Reflection[]): Reflection | null {
  return list.find((r) => r.status === "completed") ?? null;
}

/** Who wrote it: the built-in curator works from the facts alone, a model is named. */
export function writtenBy(r: Pick<Reflection, "curator" | "model">): string {
  if (r.curator === "builtin" || r.model === "builtin")
    return "the AI Museum Curator (built-in, from the facts alone)";
  return r.model ? `the AI Museum Curator (${r.model})` : "the AI Museum Curator";
}

export type Phase = { title: string; text: string; assetIds: string[] };

/** An evolution note as a step of the strip: "At image 31: added …" becomes "Image 31" over "Added …". */
export function phase(statement: Statement): Phase {
  const match = /^At image (\d+):\s*(.+)$/s.exec(statement.text);
  if (!match) return { title: "", text: statement.text, assetIds: statement.asset_ids };
  const rest = match[2];
  return {
    title: `Image ${match[1]}`,
    text: rest[0].toUpperCase() + rest.slice(1),
    assetIds: statement.asset_ids,
  };
}

/** Up to `limit` of the cited images (without repeats), spread evenly over the list in its order, and
 * how many more there are: a statement citing 30 blue then 30 orange images shows both colours. */
export function cited(ids: string[], limit = 6): { shown: string[]; more: number } {
  const unique = [...new Set(ids)];
  if (unique.length <= limit) return { shown: unique, more: 0 };
  if (limit <= 1) return { shown: unique.slice(0, limit), more: unique.length - limit };
  const step = (unique.length - 1) / (limit - 1);
  const shown = Array.from({ length: limit }, (_, i) => unique[Math.round(i * step)]);
  return { shown, more: unique.length - limit };
}

export function thumbnailUrl(assetId: string): string {
  return `/api/v1/assets/${assetId}/thumbnail`;
}

/** A new key per confirmation (the same one again when retrying that confirmation after buying). */
export function newKey(): string {
  return crypto.randomUUID();
}
