// Keeping what the person is looking at in place while a list changes around it.

import { tick } from "svelte";

/**
 * Applies `update` (a state change that may add or grow content above the view) and then scrolls by
 * however far the first element matching `selector` that was in view has moved, so it stays where it
 * was on the screen. Browsers' scroll anchoring usually does this already, and then the correction
 * is zero; but it picks its own anchor and can pick one that a keyed list moved or replaced, and a
 * live insert then nudges the page (seen as a 13.5 px jump). At the very top nothing is kept: a
 * person there wants to see what arrived.
 */
export async function keepInView(selector: string, update: () => void): Promise<void> {
  const anchor = window.scrollY > 0 ? firstInView(selector) : null;
  const top = anchor?.getBoundingClientRect().top ?? 0;
  update();
  await tick();
  if (!anchor?.isConnected) return;
  const moved = anchor.getBoundingClientRect().top - top;
  if (Math.abs(moved) >= 1) window.scrollBy(0, moved);
}

function firstInView(selector: string): Element | null {
  for (const element of document.querySelectorAll(selector)) {
    const box = element.getBoundingClientRect();
    if (box.bottom > 0 && box.top < window.innerHeight) return element;
  }
  return null;
}
