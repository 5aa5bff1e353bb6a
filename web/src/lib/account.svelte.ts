// Who is signed in: GET /api/v1/me, loaded once by the App and cleared on sign-out.
import { api } from "./api/client";
import type { Schemas } from "./api/client";

export type Me = Schemas["Me"];

class Account {
  me: Me | null = $state(null);
  loaded = $state(false);

  async load(): Promise<Me | null> {
    // the gateway sets this readable companion of the (HttpOnly) session cookie: without it nobody is
    // signed in, and asking /me would only fail (a 401 the browser reports as an error)
    if (!document.cookie.split("; ").some((c) => c.startsWith("atelier_signed_in="))) {
      this.me = null;
      this.loaded = true;
      return null;
    }
    const { data } = await api.GET("/api/v1/me");
    this.me = data ?? null;
    this.loaded = true;
    return this.me;
  }

  get zone(): string {
    return this.me?.time_zone ?? "UTC";
  }

  async signOut(): Promise<void> {
    await api.POST("/api/v1/logout");
    this.me = null;
  }
}

export const account = new Account();
