// Whether the API answers: the banner shows while it does not, and pages retry when it comes back.

class Network {
  online = $state(true);
  /** set when a call answers 401: the App goes to the sign-in page */
  expired = $state(false);
  private listeners = new Set<() => void>();

  reachable(): void {
    if (!this.online) {
      this.online = true;
      for (const listener of this.listeners) listener();
    }
  }
  unreachable(): void {
    this.online = false;
  }
  signedOut(): void {
    this.expired = true;
  }
  /** `listener` runs each time the API answers again after a loss; returns a function that unsubscribes */
  onBack(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export const network = new Network();
