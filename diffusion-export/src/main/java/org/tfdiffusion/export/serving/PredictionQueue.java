package org.tfdiffusion.export.serving;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.tfdiffusion.graph.BigStack;

/**
 * The prediction slots: at most {@code slots} predictions hold one at a time; others wait in
 * arrival order for up to their queue timeout (then 429). Waiting holds no thread.
 *
 * <p>When a client hangs up, its prediction stops holding the queue: a waiting one leaves the queue
 * and never runs; a running one gives its slot to the next in line at once. TensorFlow cannot stop
 * a running graph from outside, so such a run finishes in the background (its answer dropped); at
 * most {@code slots} abandoned runs do so at once, beyond that a run keeps its slot to the end, so
 * the CPU is never shared by more than twice {@code slots} predictions.
 */
final class PredictionQueue implements AutoCloseable {
  private final int slots;
  private final int maxAbandoned;
  private final ExecutorService runners;
  private final ScheduledExecutorService timer;
  private final ArrayDeque<Ticket<?>> waiting = new ArrayDeque<>();
  private int holding;
  private int abandoned;
  private long leftWaiting;
  private boolean closed;

  /** Where one prediction is. */
  private enum Stage {
    WAITING,
    RUNNING,
    DONE
  }

  /** One prediction: its work, its answer, and whether it holds a slot. */
  private static final class Ticket<T> {
    final Callable<T> work;
    final CompletableFuture<T> result = new CompletableFuture<>();
    final Duration timeout;
    Stage stage = Stage.WAITING;
    boolean holdsSlot;
    ScheduledFuture<?> expiry;

    Ticket(Callable<T> work, Duration timeout) {
      this.work = work;
      this.timeout = timeout;
    }
  }

  /**
   * @param slots predictions that run at once
   */
  PredictionQueue(int slots) {
    this.slots = slots;
    this.maxAbandoned = slots;
    AtomicInteger n = new AtomicInteger();
    this.runners =
        Executors.newFixedThreadPool(
            slots + maxAbandoned,
            r -> {
              // the sampling loop nests on the calling thread's stack
              Thread t =
                  new Thread(null, r, "serve-predict-" + n.incrementAndGet(), BigStack.STACK_BYTES);
              t.setDaemon(true);
              return t;
            });
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "serve-queue-timer");
              t.setDaemon(true);
              return t;
            });
  }

  /**
   * Runs {@code work} in a slot once one is free.
   *
   * @param client the requesting connection: when it goes, the work leaves the queue or its slot
   * @param timeout how long to wait for a slot before failing with 429
   * @return the work's result; fails with a {@link ServingException} (429 no slot in time, 499 the
   *     client went away while waiting, 503 the server is closing) or whatever the work threw
   */
  <T> CompletableFuture<T> submit(ClientConnection client, Duration timeout, Callable<T> work) {
    Ticket<T> ticket = new Ticket<>(work, timeout);
    synchronized (this) {
      if (closed) {
        ticket.result.completeExceptionally(
            new ServingException(ErrorCode.UNAVAILABLE, "the server is shutting down"));
        return ticket.result;
      }
      if (holding < slots && waiting.isEmpty()) {
        start(ticket);
      } else {
        waiting.add(ticket);
        ticket.expiry =
            timer.schedule(() -> expire(ticket), timeout.toNanos(), TimeUnit.NANOSECONDS);
      }
    }
    client.onGone(() -> clientGone(ticket));
    return ticket.result;
  }

  /** Predictions running now, abandoned ones included. */
  synchronized int running() {
    return holding + abandoned;
  }

  /** Predictions waiting for a slot now. */
  synchronized int waiting() {
    return waiting.size();
  }

  /** Predictions that left the queue because their client hung up, since the start. */
  synchronized long leftWaiting() {
    return leftWaiting;
  }

  private void start(Ticket<?> ticket) {
    ticket.stage = Stage.RUNNING;
    ticket.holdsSlot = true;
    holding++;
    if (ticket.expiry != null) {
      ticket.expiry.cancel(false);
    }
    runners.execute(() -> run(ticket));
  }

  /** Runs the work, frees its slot, then completes its result (so an answer means a free slot). */
  private <T> void run(Ticket<T> ticket) {
    T value = null;
    Throwable failure = null;
    try {
      value = ticket.work.call();
    } catch (Exception | Error e) {
      failure = e;
    } finally {
      synchronized (this) {
        if (ticket.holdsSlot) {
          holding--;
        } else {
          abandoned--;
        }
        ticket.stage = Stage.DONE;
        startWaiting();
      }
    }
    if (failure == null) {
      ticket.result.complete(value);
    } else {
      ticket.result.completeExceptionally(failure);
    }
  }

  private synchronized void expire(Ticket<?> ticket) {
    if (ticket.stage != Stage.WAITING || !waiting.remove(ticket)) {
      return;
    }
    ticket.stage = Stage.DONE;
    ticket.result.completeExceptionally(
        new ServingException(
            ErrorCode.RESOURCE_EXHAUSTED,
            String.format(
                "the server is busy: %d predictions are running (serve --max-concurrent) and this"
                    + " one waited %s s for a slot (--queue-timeout); retry later",
                slots, Durations.seconds(ticket.timeout))));
  }

  private synchronized void clientGone(Ticket<?> ticket) {
    switch (ticket.stage) {
      case WAITING -> {
        waiting.remove(ticket);
        if (ticket.expiry != null) {
          ticket.expiry.cancel(false);
        }
        ticket.stage = Stage.DONE;
        leftWaiting++;
        ticket.result.completeExceptionally(
            new ServingException(
                ErrorCode.CANCELLED, "the client closed the connection while waiting for a slot"));
      }
      case RUNNING -> {
        if (ticket.holdsSlot && abandoned < maxAbandoned) {
          ticket.holdsSlot = false;
          holding--;
          abandoned++;
          startWaiting();
        }
      }
      case DONE -> {
        // answered already
      }
    }
  }

  private void startWaiting() {
    while (holding < slots && !waiting.isEmpty()) {
      start(waiting.poll());
    }
  }

  /**
   * Fails every waiting prediction (503) and stops the threads; running ones are not waited for.
   */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
      for (Ticket<?> t : waiting) {
        t.stage = Stage.DONE;
        if (t.expiry != null) {
          t.expiry.cancel(false);
        }
        t.result.completeExceptionally(
            new ServingException(ErrorCode.UNAVAILABLE, "the server is shutting down"));
      }
      waiting.clear();
    }
    timer.shutdownNow();
    runners.shutdownNow();
  }
}
