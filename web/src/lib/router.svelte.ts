// A small history router: the app's pages are a handful of paths under /app/, matched here, so no
// framework router is needed. `route` is reactive state the App reads; links call `navigate`.

export type Route =
  | { page: "signin" }
  | { page: "signup" }
  | { page: "sessions" }
  | { page: "session"; id: string }
  | { page: "gallery" }
  | { page: "import" }
  | { page: "settings" }
  | { page: "shared"; token: string }
  | { page: "notfound" };

export function match(pathname: string): Route {
  const path = pathname.replace(/\/+$/, "") || "/";
  if (path === "/" || path === "/app" || path === "/app/sessions") return { page: "sessions" };
  const session = path.match(/^\/app\/sessions\/([0-9a-f-]{36})$/i);
  if (session) return { page: "session", id: session[1] };
  const shared = path.match(/^\/s\/([A-Za-z0-9_-]+)$/);
  if (shared) return { page: "shared", token: shared[1] };
  const pages: Record<string, Route> = {
    "/app/signin": { page: "signin" },
    "/app/signup": { page: "signup" },
    "/app/gallery": { page: "gallery" },
    "/app/import": { page: "import" },
    "/app/settings": { page: "settings" },
  };
  return pages[path] ?? { page: "notfound" };
}

class Location {
  pathname = $state(window.location.pathname);
  search = $state(window.location.search);
  route: Route = $derived(match(this.pathname));
  params: URLSearchParams = $derived(new URLSearchParams(this.search));
}

export const location = new Location();

window.addEventListener("popstate", () => {
  location.pathname = window.location.pathname;
  location.search = window.location.search;
});

/** Go to `href` (a path with an optional query) without reloading; `replace` keeps history short. */
export function navigate(href: string, { replace = false } = {}): void {
  const url = new URL(href, window.location.origin);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  location.pathname = url.pathname;
  location.search = url.search;
  if (!replace) window.scrollTo(0, 0);
}

/** onclick for <a href>: a plain left click navigates in the app; other clicks open as the browser would. */
export function follow(event: MouseEvent): void {
  const a = event.currentTarget as HTMLAnchorElement;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (a.target || a.origin !== window.location.origin) return;
  event.preventDefault();
  navigate(a.pathname + a.search);
}
