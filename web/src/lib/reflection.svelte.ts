// One session's reflections and the paid flow around them: the quote (the button's price), confirming
// with an Idempotency-Key (402: short of credits, retried with the same key once bought; 409: the quote
// expired, so a new one is asked), and following the newest reflection until it completes or fails.
import { api, problem } from "./api/client";
import {
  insufficient,
  isRunning,
  latestCompleted,
  newKey,
  quoteStale,
  type Insufficient,
} from "./reflection";
import type { Quote, Reflection } from "./reflection";

export class ReflectionFlow {
  quote = $state<Quote | null>(null);
  /** the API refused to quote (fewer than 50 images by its count): no button */
  refused = $state(false);
  /** the newest reflection, whatever its status */
  newest = $state<Reflection | null>(null);
  /** the newest completed one: what the view shows */
  shown = $state<Reflection | null>(null);
  /** the 402's problem while the insufficient-credits dialog is open */
  short = $state<Insufficient | null>(null);
  busy = $state(false);
  /** a reflection confirmed on this page just completed: said once for screen readers */
  ready = $state(false);
  /** what the cost dialog says besides the price (a new quote, a failure to confirm) */
  note = $state("");
  // the key of the confirmation under way: kept for the retry after buying credits
  private key: string | null = null;

  constructor(readonly sessionId: string) {}

  get running(): boolean {
    return isRunning(this.newest);
  }

  async loadQuote(): Promise<Quote | null> {
    const { data, error, response } = await api.POST("/api/v1/sessions/{session_id}/reflection/quote", {
      params: { path: { session_id: this.sessionId } },
    });
    if (response.status === 422) this.refused = true;
    if (!data) {
      // said in the cost dialog (a 422 hides the button instead)
      if (response.status !== 422) this.note = problem(error, "The price could not be had. Try again.");
      return null;
    }
    this.refused = false;
    this.quote = data;
    return data;
  }

  /** Before the cost dialog: a quote still good for a while, asked again otherwise. */
  async prepare(): Promise<void> {
    this.note = "";
    if (!this.quote || quoteStale(this.quote, Date.now())) await this.loadQuote();
  }

  async loadReflections(): Promise<void> {
    const { data } = await api.GET("/api/v1/sessions/{session_id}/reflections", {
      params: { path: { session_id: this.sessionId } },
    });
    if (!data) return;
    this.newest = data[0] ?? null;
    this.shown = latestCompleted(data);
  }

  /** Read the newest reflection again (a live event or the poll); true once it is finished. */
  async refresh(): Promise<boolean> {
    const id = this.newest?.reflection_id;
    if (!id) return true;
    const { data } = await api.GET("/api/v1/reflections/{reflection_id}", {
      params: { path: { reflection_id: id } },
    });
    if (!data || data.reflection_id !== this.newest?.reflection_id) return false;
    if (isRunning(this.newest) && data.status === "completed") this.ready = true;
    this.newest = data;
    if (data.status === "completed") this.shown = data;
    return !isRunning(data);
  }

  /** Confirm the quote as a new confirmation: a fresh Idempotency-Key. */
  confirm(): Promise<"started" | "short" | "expired" | "failed"> {
    this.key = newKey();
    return this.send();
  }

  /** Retry the confirmation that was short of credits, under the same key (nothing was kept under it). */
  retry(): Promise<"started" | "short" | "expired" | "failed"> {
    this.short = null;
    return this.send();
  }

  private async send(): Promise<"started" | "short" | "expired" | "failed"> {
    const quote = this.quote ?? (await this.loadQuote());
    if (!quote || !this.key) return "failed";
    this.busy = true;
    this.ready = false;
    this.note = "";
    const { data, error, response } = await api.POST("/api/v1/sessions/{session_id}/reflections", {
      params: { path: { session_id: this.sessionId }, header: { "Idempotency-Key": this.key } },
      body: { quote_id: quote.quote_id },
    });
    this.busy = false;
    if (data) {
      this.key = null;
      const now = new Date().toISOString();
      // shown as pending at once; the live feed or the poll brings the rest
      this.newest = {
        reflection_id: data.reflection_id,
        session_id: this.sessionId,
        status: data.status,
        model: quote.model,
        curator: null,
        summary: null,
        summary_statements: [],
        style_patterns: [],
        evolution_notes: [],
        facts: [],
        credits_reserved: quote.credits,
        credits_charged: null,
        error: null,
        created_at: now,
        completed_at: null,
      };
      void this.refresh();
      return "started";
    }
    const short = response.status === 402 ? insufficient(error) : null;
    if (short) {
      this.short = short;
      return "short";
    }
    if (response.status === 409) {
      // the quote expired (or, unlikely, the key met another quote): price it again, confirm anew
      this.key = null;
      const fresh = await this.loadQuote();
      this.note = fresh
        ? `The price quote expired. The new price is ${fresh.credits} credits: confirm again to go on.`
        : "The price quote expired and a new one could not be had. Try again.";
      return "expired";
    }
    this.note = problem(error, "The reflection could not be started. Try again.");
    return "failed";
  }
}
