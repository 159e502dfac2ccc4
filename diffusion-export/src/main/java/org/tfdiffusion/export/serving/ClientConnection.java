package org.tfdiffusion.export.serving;

import java.util.ArrayList;
import java.util.List;

/**
 * The connection a request came on, as the work for it sees it: whether the client is still there,
 * and a callback for when it hangs up (so a queued prediction leaves the queue and a running one
 * gives back its slot).
 */
final class ClientConnection {
  private final List<Runnable> listeners = new ArrayList<>();
  private boolean gone;

  /** A connection that never goes away (for work that has no client, such as benchmarks). */
  static ClientConnection detached() {
    return new ClientConnection();
  }

  /** Whether the client has closed the connection. */
  synchronized boolean isGone() {
    return gone;
  }

  /** Runs {@code listener} when the client hangs up (at once if it already has). */
  void onGone(Runnable listener) {
    synchronized (this) {
      if (!gone) {
        listeners.add(listener);
        return;
      }
    }
    listener.run();
  }

  /** The client hung up: runs every listener once. */
  void markGone() {
    List<Runnable> run;
    synchronized (this) {
      if (gone) {
        return;
      }
      gone = true;
      run = List.copyOf(listeners);
      listeners.clear();
    }
    run.forEach(Runnable::run);
  }
}
