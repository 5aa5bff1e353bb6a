// The workspace's credits, shared by the Settings section and the insufficient-credits dialog, and
// buying a pack: the provider's checkout page, or (the built-in test provider) credited at once.
import { api, problem } from "./api/client";
import type { Schemas } from "./api/client";

export type Credits = Schemas["Credits"];
export type Pack = Schemas["Pack"];

class CreditsState {
  current = $state<Credits | null>(null);
  error = $state<string | null>(null);

  async load(): Promise<Credits | null> {
    const { data, error } = await api.GET("/api/v1/credits");
    this.error = data ? null : problem(error, "Your credits could not be loaded.");
    if (data) this.current = data;
    return data ?? null;
  }

  /** Buy `pack`: true when the credits are there now (false: the page goes to the provider, or it failed). */
  async buy(pack: Pack): Promise<boolean> {
    const { data, error } = await api.POST("/api/v1/billing/checkout", { body: { pack: pack.id } });
    if (!data) {
      this.error = problem(error, "The purchase could not be started.");
      return false;
    }
    if (data.status === "redirect" && data.url) {
      window.location.assign(data.url);
      return false;
    }
    await this.load();
    return true;
  }
}

export const credits = new CreditsState();
