// How times, counts and sources read on the pages. Pure functions, tested with Vitest.

export type Group = "today" | "this_week" | "earlier";

export const GROUP_TITLES: Record<Group, string> = {
  today: "Today",
  this_week: "This week",
  earlier: "Earlier",
};

interface Parts {
  weekday: string;
  day: string;
  month: string;
  year: string;
  time: string;
  date: string; // yyyy-mm-dd in the zone, for comparing days
}

function parts(iso: string, zone: string): Parts {
  const at = new Date(iso);
  const get = (options: Intl.DateTimeFormatOptions) =>
    new Intl.DateTimeFormat("en-GB", { timeZone: zone, ...options }).format(at);
  const ymd = new Intl.DateTimeFormat("en-CA", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(at);
  return {
    weekday: get({ weekday: "short" }),
    day: get({ day: "numeric" }),
    month: get({ month: "short" }),
    year: get({ year: "numeric" }),
    time: get({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
    date: ymd,
  };
}

/**
 * A session's time range in words, in the workspace's zone: "14:05–15:40" today, "Tue 21:10–23:02" this
 * week, "3 Mar 2025" earlier (a range of days when it spans several). Day-precision sessions (times
 * read from a folder name or a date) never show a clock time.
 */
export function timeRange(
  start: string,
  end: string,
  group: Group,
  zone: string,
  precision = "second",
): string {
  const a = parts(start, zone);
  const b = parts(end, zone);
  const sameDay = a.date === b.date;
  if (precision === "day" || group === "earlier") {
    if (sameDay) return `${a.day} ${a.month} ${a.year}`;
    if (a.year !== b.year) return `${a.day} ${a.month} ${a.year} – ${b.day} ${b.month} ${b.year}`;
    if (a.month !== b.month) return `${a.day} ${a.month} – ${b.day} ${b.month} ${b.year}`;
    return `${a.day}–${b.day} ${a.month} ${a.year}`;
  }
  const clock = sameDay ? `${a.time}–${b.time}` : `${a.time}–${b.weekday} ${b.time}`;
  return group === "today" ? clock : `${a.weekday} ${clock}`;
}

/** "1 image", "24 images", "1,024 images" */
export function imageCount(n: number): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? "image" : "images"}`;
}

/** A session's size as its card and page say it: every image, and how many of them are rejected
 * (hidden from its lists unless asked for, so the count and the grid may differ by that much). */
export function sessionSize(count: number, rejected: number): string {
  return rejected ? `${imageCount(count)} · ${rejected.toLocaleString("en-US")} rejected` : imageCount(count);
}

/** Where an asset's generation time came from, as the inspector says it. */
export function timeSource(source: string | null | undefined): string {
  if (!source) return "no generation time";
  if (source === "c2pa:signature") return "from the C2PA signature";
  if (source.startsWith("folder:")) return "from the folder name";
  if (source.startsWith("filename:")) return "from the file name";
  if (source === "file_mtime") return "from the file's modified time";
  return "from the file's embedded time";
}

/** An absolute time in the zone, e.g. "Fri, 21 Mar 2025, 10:04:05" (date only at day precision). */
export function when(iso: string, zone: string, precision = "second"): string {
  const options: Intl.DateTimeFormatOptions =
    precision === "day"
      ? { timeZone: zone, day: "numeric", month: "short", year: "numeric" }
      : {
          timeZone: zone,
          weekday: "short",
          day: "numeric",
          month: "short",
          year: "numeric",
          hour: "2-digit",
          minute: "2-digit",
          second: "2-digit",
          hourCycle: "h23",
        };
  return new Intl.DateTimeFormat("en-GB", options).format(new Date(iso));
}

/** The UTC instant of midnight starting `date` (yyyy-mm-dd) in `zone`, as ISO text. */
export function zonedMidnight(date: string, zone: string): string {
  const [y, m, d] = date.split("-").map(Number);
  const guess = Date.UTC(y, m - 1, d);
  const offset = (at: number) => {
    const p = Object.fromEntries(
      new Intl.DateTimeFormat("en-US", {
        timeZone: zone,
        hourCycle: "h23",
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      })
        .formatToParts(new Date(at))
        .map((part) => [part.type, part.value]),
    );
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - at;
  };
  // twice: the offset at the guess may differ from the offset at the answer across a DST change
  let at = guess - offset(guess);
  at = guess - offset(at);
  return new Date(at).toISOString();
}

/** The yyyy-mm-dd an instant falls on in `zone` (for a date input showing an ISO bound). */
export function zonedDate(iso: string, zone: string): string {
  return new Intl.DateTimeFormat("en-CA", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(new Date(iso));
}

/** The day after yyyy-mm-dd (an inclusive "to" date becomes the API's exclusive bound). */
export function nextDay(date: string): string {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}
