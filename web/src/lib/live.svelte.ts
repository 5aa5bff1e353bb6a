// The live feed: one EventSource on GET /api/v1/events for the whole app. Pages subscribe to hear that
// sessions changed (and, on a session's page, its stacks and lineage); the browser reconnects by
// itself when the stream ends or the network drops.

export type LiveEvent =
  | { type: "session.updated"; payload: { session_id: string; deleted?: boolean } }
  | { type: "session.merged"; payload: { from_session_id: string; into_session_id: string } }
  | { type: "reflection.completed"; payload: { reflection_id: string } }
  | { type: "reflection.failed"; payload: { reflection_id: string } }
  | { type: "stack.updated"; payload: { session_id: string; stack_ids: string[] } }
  | { type: "lineage.linked"; payload: { edges: LinkedEdge[]; removed?: LinkedEdge[] } }
  | { type: "resync"; payload: Record<string, never> };

export type LinkedEdge = { parent_id: string; child_id: string; relation: string; confidence: number };

type Listener = (event: LiveEvent) => void;

const listeners = new Set<Listener>();
let source: EventSource | null = null;

function open(): void {
  if (source || typeof EventSource === "undefined") return;
  source = new EventSource("/api/v1/events", { withCredentials: true });
  const relay = (type: LiveEvent["type"]) => (message: MessageEvent) => {
    let payload = {};
    try {
      payload = (JSON.parse(message.data) as { payload?: object }).payload ?? {};
    } catch {
      // a malformed frame is dropped: the next event or the next page load brings the state
    }
    for (const listener of listeners) listener({ type, payload } as LiveEvent);
  };
  source.addEventListener("session.updated", relay("session.updated"));
  source.addEventListener("session.merged", relay("session.merged"));
  source.addEventListener("reflection.completed", relay("reflection.completed"));
  source.addEventListener("reflection.failed", relay("reflection.failed"));
  source.addEventListener("stack.updated", relay("stack.updated"));
  source.addEventListener("lineage.linked", relay("lineage.linked"));
  source.addEventListener("resync", relay("resync"));
}

/** Hear live events while subscribed; returns the unsubscribe function (use it as an effect's cleanup). */
export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  open();
  return () => {
    listeners.delete(listener);
    if (!listeners.size && source) {
      source.close();
      source = null;
    }
  };
}

/** `fn` at most once per `ms`, run after the last call (a burst of events becomes one reload). */
export function debounce(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}
