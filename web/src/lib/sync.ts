// The `atelier sync` command line the Import page shows (libs/cli/sync.py: DIR, --server, --token,
// --watch), quoted for a POSIX shell so it can be pasted as it is.

/** `value` as one shell word: bare when it is plain, else in single quotes. */
export function shellQuote(value: string): string {
  if (value && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'"'"'`)}'`;
}

/** A folder path as one shell word; a leading `~/` stays outside the quotes so the shell expands it. */
export function quotePath(path: string): string {
  const trimmed = path.trim();
  if (trimmed === "~") return "~";
  if (trimmed.startsWith("~/")) {
    const rest = trimmed.slice(2);
    return rest ? `~/${shellQuote(rest)}` : "~/";
  }
  return shellQuote(trimmed);
}

export interface SyncOptions {
  folder: string;
  server: string;
  /** the token itself, or null to read it from $ATELIER_TOKEN */
  token: string | null;
  watch: boolean;
}

export const DEFAULT_FOLDER = "~/Pictures";

export function syncCommand({ folder, server, token, watch }: SyncOptions): string {
  const words = ["atelier", "sync", quotePath(folder || DEFAULT_FOLDER), "--server", shellQuote(server)];
  words.push("--token", token ? shellQuote(token) : '"$ATELIER_TOKEN"');
  if (watch) words.push("--watch");
  return words.join(" ");
}
