// API tokens and share links as the pages show them: a link made absolute, when a token was last used,
// when a link expires. Pure, tested in tokens.test.ts.

/** The API's link (absolute, or a path when the server has no public origin) as a full URL. */
export function absoluteUrl(url: string, origin: string): string {
  return new URL(url, origin).toString();
}

const day = 24 * 60 * 60 * 1000;

function date(iso: string, zone: string): string {
  return new Intl.DateTimeFormat("en-GB", {
    timeZone: zone,
    day: "numeric",
    month: "short",
    year: "numeric",
  }).format(new Date(iso));
}

/** "never used", "used today", "used yesterday", "used 3 days ago", "used 21 Mar 2025" */
export function lastUsed(iso: string | null | undefined, now: Date, zone: string): string {
  if (!iso) return "never used";
  const ymd = (d: Date) =>
    new Intl.DateTimeFormat("en-CA", {
      timeZone: zone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).format(d);
  const days = Math.round((Date.parse(ymd(now)) - Date.parse(ymd(new Date(iso)))) / day);
  if (days <= 0) return "used today";
  if (days === 1) return "used yesterday";
  if (days < 7) return `used ${days} days ago`;
  return `used ${date(iso, zone)}`;
}

/** "expires 5 Dec 2026", or "expired 1 Nov 2026" once past. */
export function expiry(iso: string, now: Date, zone: string): string {
  return `${Date.parse(iso) <= now.getTime() ? "expired" : "expires"} ${date(iso, zone)}`;
}

export function isExpired(iso: string, now: Date): boolean {
  return Date.parse(iso) <= now.getTime();
}

/** A share's expiry in days, as the API takes it: a whole number in 1..365, else null. */
export function validDays(value: number | null | undefined): number | null {
  if (value == null || !Number.isInteger(value) || value < 1 || value > 365) return null;
  return value;
}

/** Copy `text`; false when the browser refuses (no clipboard permission, not a secure context). */
export async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

function clock(d: Date, zone: string): string {
  return new Intl.DateTimeFormat("en-GB", {
    timeZone: zone,
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(d);
}

function longDate(d: Date, zone: string): string {
  return new Intl.DateTimeFormat("en-GB", {
    timeZone: zone,
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
  }).format(d);
}

/**
 * A shared session's time range for a visitor, in the visitor's zone: "Fri, 21 Mar 2025, 10:04–11:30",
 * across midnight "Fri, 21 Mar 2025, 23:10 – Sat, 22 Mar 2025, 01:02", one time when start and end
 * read alike (one image shown); dates only at day precision.
 */
export function sharedRange(start: string, end: string, precision: string, zone: string): string {
  const a = new Date(start);
  const b = new Date(end);
  const sameDay = longDate(a, zone) === longDate(b, zone);
  if (precision === "day") return sameDay ? longDate(a, zone) : `${longDate(a, zone)} – ${longDate(b, zone)}`;
  if (sameDay && clock(a, zone) === clock(b, zone)) return `${longDate(a, zone)}, ${clock(a, zone)}`;
  if (sameDay) return `${longDate(a, zone)}, ${clock(a, zone)}–${clock(b, zone)}`;
  return `${longDate(a, zone)}, ${clock(a, zone)} – ${longDate(b, zone)}, ${clock(b, zone)}`;
}
