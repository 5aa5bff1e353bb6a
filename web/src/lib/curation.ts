// Keepers and stacks as the session page shows them: the Lightroom flag keys, and which tiles the grid
// draws when variations are stacked (one tile per collapsed stack, every member of an expanded one in
// place). Plain logic, no I/O: tested alone.

export type Flag = "pick" | "reject";

/** A stack of the session as GET /sessions/{id}/stacks gives it (members in generation order). */
export interface Stack {
  stack_id: string;
  cover_asset_id: string;
  asset_ids: string[];
  size: number;
  manual: boolean;
  reason: string;
  cover_thumbnail_url?: string;
}

/** What a key does to the flag of the image it is pressed on: P picks, X rejects, U clears (as in
 * Lightroom); undefined for any other key or a key with a modifier (Ctrl+P prints, Cmd+X cuts). */
export function flagForKey(
  key: string,
  modifiers: { ctrlKey?: boolean; metaKey?: boolean; altKey?: boolean } = {},
): Flag | null | undefined {
  if (modifiers.ctrlKey || modifiers.metaKey || modifiers.altKey) return undefined;
  const keys: Record<string, Flag | null> = { p: "pick", x: "reject", u: null };
  const flag = keys[key.toLowerCase()];
  return key.length === 1 ? flag : undefined;
}

/** A key pressed while typing (a search box, a name) is text, never a command. */
export function isTyping(target: EventTarget | null): boolean {
  if (!target || !(target as Element).closest) return false;
  const element = target as HTMLElement;
  return element.isContentEditable || !!element.closest("input, textarea, select, [contenteditable='true']");
}

export const FLAG_TEXT: Record<Flag, string> = { pick: "Picked", reject: "Rejected" };

/** How a flag reads after an image's name on its tile ("…, picked"); nothing when unflagged. */
export function flagSuffix(flag: Flag | null | undefined): string {
  return flag ? `, ${FLAG_TEXT[flag].toLowerCase()}` : "";
}

/** One tile of the session grid. */
export interface Tile<A> {
  asset: A;
  /** the stack it stands for or belongs to; null for an image alone */
  stack: Stack | null;
  /** the stack's members on this page (rejects hidden and filters applied), in order */
  members: A[];
  expanded: boolean;
  /** the first tile of an expanded stack (where its Collapse button goes) */
  leads: boolean;
}

/**
 * The tiles of a session's images in generation order: a collapsed stack is one tile, at its first
 * member's place, showing its cover; an expanded stack's members follow one another from that place.
 * Only the members on this page count (a keepers-only page stacks the picks); a stack of which one
 * member is left is an image alone. The cover is the stack's own when shown here, else its last
 * member shown here (the API's rule: last and largest, a pick first).
 */
export function stackTiles<A extends { asset_id: string }>(
  assets: A[],
  stacks: Stack[],
  expanded: ReadonlySet<string>,
): Tile<A>[] {
  const stackOf = new Map<string, Stack>();
  for (const stack of stacks) for (const id of stack.asset_ids) stackOf.set(id, stack);
  const members = new Map<string, A[]>();
  for (const asset of assets) {
    const stack = stackOf.get(asset.asset_id);
    if (!stack) continue;
    const list = members.get(stack.stack_id) ?? [];
    list.push(asset);
    members.set(stack.stack_id, list);
  }
  const tiles: Tile<A>[] = [];
  const placed = new Set<string>();
  for (const asset of assets) {
    const stack = stackOf.get(asset.asset_id);
    const shown = stack ? (members.get(stack.stack_id) ?? []) : [];
    if (!stack || shown.length < 2) {
      tiles.push({ asset, stack: null, members: [asset], expanded: false, leads: false });
      continue;
    }
    if (placed.has(stack.stack_id)) continue;
    placed.add(stack.stack_id);
    if (expanded.has(stack.stack_id)) {
      shown.forEach((member, i) =>
        tiles.push({ asset: member, stack, members: shown, expanded: true, leads: i === 0 }),
      );
    } else {
      const cover = shown.find((a) => a.asset_id === stack.cover_asset_id) ?? shown[shown.length - 1];
      tiles.push({ asset: cover, stack, members: shown, expanded: false, leads: true });
    }
  }
  return tiles;
}

/** The stacks of more than one image (the session reads as this many ideas plus its loners). */
export function stackCount(stacks: Stack[]): number {
  return stacks.filter((s) => s.size > 1).length;
}

/** Which images a page lists by their flags, as its address says (`flag`, `include_rejected`):
 * everything but the rejects (the default), everything (`showRejected`), or only the images flagged
 * `only`: the keepers, or the rejects to look over again. */
export interface KeeperView {
  only: Flag | null;
  showRejected: boolean;
}

/** The view an address's (or a saved search's) parameters ask for. */
export function keeperView(query: { flag?: Flag; include_rejected?: true }): KeeperView {
  return { only: query.flag ?? null, showRejected: !!query.include_rejected };
}

/** The API's (and the address's) parameters for a view. */
export function keeperQuery(view: KeeperView): { flag?: Flag; include_rejected?: true } {
  if (view.only) return { flag: view.only };
  return view.showRejected ? { include_rejected: true } : {};
}

/** The page's list after a flag changed: the image's flag set, and the image taken out when the view
 * no longer lists it (a reject unless rejects are shown; anything but the flag a view lists only). */
export function afterFlag<A extends { asset_id: string; flag?: Flag | null }>(
  assets: A[],
  assetId: string,
  flag: Flag | null,
  view: KeeperView,
): A[] {
  const next = assets.map((a) => (a.asset_id === assetId ? { ...a, flag } : a));
  const listed = view.only ? flag === view.only : flag !== "reject" || view.showRejected;
  return next.filter((a) => a.asset_id !== assetId || listed);
}
