package org.tfdiffusion.export.serving;

import java.lang.reflect.Array;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.tfdiffusion.graph.BigStack;

/**
 * Request batching as TensorFlow Serving does it: predictions for the same model version, signature
 * and non-batched inputs (settings such as {@code num_steps}) wait in one queue; {@code
 * num_batch_threads} threads each take the oldest queue that is ready, merge up to {@code
 * max_batch_size} rows of whole requests into one graph run (padded to an allowed size), and split
 * the outputs back by rows.
 *
 * <p>A queue is ready when it holds {@code max_batch_size} rows or its oldest request has waited
 * {@code batch_timeout_micros} counted from when a batch thread was free to run it: from its
 * arrival, or, when it came while every thread was busy, from the moment a thread finished its run.
 * So a request that had to wait for a busy thread is not run alone the moment the thread frees
 * while the clients just answered send their next requests: they get the same window to join it
 * (under load, batches of all the concurrent clients instead of alternating runs of one request and
 * of the rest). With a timeout of 0 a free thread runs whatever is queued, so batches grow exactly
 * while every thread is busy. The samplers draw each row's noise from that row's seed and every
 * row's computation is independent of the others, so a row gives the same image alone or in any
 * batch.
 *
 * <p>A merged run that fails on its inputs (a graph assertion: a label out of range) is run again
 * request by request, so only the request at fault fails. A request waits at most the queue timeout
 * (then 429), a queue holds at most {@code max_enqueued_batches} batches' worth of rows (beyond
 * that 429), and a request whose client hangs up before its batch starts leaves the queue.
 */
final class BatchScheduler implements AutoCloseable {
  /** What makes requests mergeable: the same loaded version, signature and non-batched inputs. */
  private record Key(ServableModel model, String signature, Map<String, HostTensor> settings) {}

  /** One request waiting to be batched. */
  private static final class Task {
    final Key key;
    final SignatureSpec signature;
    final Map<String, HostTensor> inputs;
    final int rows;
    final RequestFacts facts;
    final long enqueuedNanos = System.nanoTime();
    final CompletableFuture<Map<String, HostTensor>> result = new CompletableFuture<>();
    ScheduledFuture<?> expiry;
    boolean taken;

    Task(
        Key key,
        SignatureSpec signature,
        Map<String, HostTensor> inputs,
        int rows,
        RequestFacts facts) {
      this.key = key;
      this.signature = signature;
      this.inputs = inputs;
      this.rows = rows;
      this.facts = facts;
    }
  }

  private final BatchingOptions options;
  private final Duration queueTimeout;
  private final ServingMetrics metrics;
  private final ServerLog log;
  private final Map<Key, ArrayDeque<Task>> queues = new LinkedHashMap<>();
  private final List<Thread> threads = new ArrayList<>();
  private final ScheduledExecutorService timer;
  private int pending;
  private int running;
  private boolean closed;

  /** When a batch thread last finished a run ({@link System#nanoTime}). */
  private long freedNanos = System.nanoTime();

  BatchScheduler(
      BatchingOptions options, Duration queueTimeout, ServingMetrics metrics, ServerLog log) {
    this.options = options;
    this.queueTimeout = queueTimeout;
    this.metrics = metrics;
    this.log = log;
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "serve-batch-timer");
              t.setDaemon(true);
              return t;
            });
    AtomicInteger n = new AtomicInteger();
    for (int i = 0; i < options.numBatchThreads(); i++) {
      // the sampling loop nests on the calling thread's stack
      Thread t =
          new Thread(null, this::work, "serve-batch-" + n.incrementAndGet(), BigStack.STACK_BYTES);
      t.setDaemon(true);
      threads.add(t);
      t.start();
    }
  }

  /**
   * Whether requests of a signature can be merged: every output has the batch dimension (so rows
   * split back), and so has at least one input.
   */
  static boolean batchable(SignatureSpec signature) {
    return !signature.outputs().isEmpty()
        && signature.outputs().values().stream().allMatch(TensorSpec::isBatched)
        && signature.inputs().values().stream().anyMatch(TensorSpec::isBatched)
        && signature.inputs().values().stream().noneMatch(TensorSpec::unknownRank);
  }

  /** Whether a request of {@code rows} rows fits in a merged run (larger ones run alone). */
  boolean fits(int rows) {
    return rows <= options.maxBatchSize();
  }

  /**
   * Queues a request of a {@link #batchable} signature for a merged run.
   *
   * @param model the version, acquired by the caller until the result completes
   * @param rows the request's rows, at most {@code max_batch_size}
   * @return the request's own outputs; fails with 429 (queue full or no run within the queue
   *     timeout), 499 (the client went away while waiting), 503 (closing) or the model's error
   */
  CompletableFuture<Map<String, HostTensor>> submit(
      ClientConnection client,
      ServableModel model,
      SignatureSpec signature,
      Map<String, HostTensor> inputs,
      int rows,
      RequestFacts facts) {
    Map<String, HostTensor> settings = new LinkedHashMap<>();
    inputs.forEach(
        (name, value) -> {
          if (!signature.inputs().get(name).isBatched()) {
            settings.put(name, value);
          }
        });
    Task task =
        new Task(
            new Key(model, signature.key(), Map.copyOf(settings)), signature, inputs, rows, facts);
    synchronized (this) {
      if (closed) {
        task.result.completeExceptionally(
            new ServingException(ErrorCode.UNAVAILABLE, "the server is shutting down"));
        return task.result;
      }
      ArrayDeque<Task> queue = queues.computeIfAbsent(task.key, k -> new ArrayDeque<>());
      int queued = queue.stream().mapToInt(t -> t.rows).sum();
      long limit = (long) options.maxEnqueuedBatches() * options.maxBatchSize();
      if (queued + rows > limit) {
        task.result.completeExceptionally(
            new ServingException(
                ErrorCode.RESOURCE_EXHAUSTED,
                String.format(
                    "the batch queue of model %s signature %s is full: %d rows wait"
                        + " (max_enqueued_batches %d x max_batch_size %d); retry later",
                    model.name(),
                    signature.key(),
                    queued,
                    options.maxEnqueuedBatches(),
                    options.maxBatchSize())));
        return task.result;
      }
      queue.add(task);
      pending++;
      task.expiry =
          timer.schedule(() -> expire(task), queueTimeout.toNanos(), TimeUnit.NANOSECONDS);
      notifyAll();
    }
    client.onGone(() -> leave(task));
    return task.result;
  }

  /** Requests waiting to be batched now. */
  synchronized int pending() {
    return pending;
  }

  /** Merged runs in progress now. */
  synchronized int running() {
    return running;
  }

  /** A batch thread: takes the next ready batch, runs it, and again, until closed. */
  private void work() {
    while (true) {
      List<Task> batch;
      synchronized (this) {
        batch = null;
        while (!closed && (batch = takeReady()) == null) {
          long waitNanos = nextDeadlineNanos();
          try {
            if (waitNanos == Long.MAX_VALUE) {
              wait();
            } else if (waitNanos > 0) {
              TimeUnit.NANOSECONDS.timedWait(this, waitNanos);
            }
          } catch (InterruptedException e) {
            return;
          }
        }
        if (closed) {
          return;
        }
        running++;
      }
      try {
        run(batch);
      } catch (RuntimeException | Error e) {
        log.error("a batch thread failed", e);
        fail(batch, e);
      } finally {
        synchronized (this) {
          running--;
          freedNanos = System.nanoTime();
        }
      }
    }
  }

  /**
   * The tasks of the ready queue whose oldest request has waited longest, up to {@code
   * max_batch_size} rows of whole requests, removed from the queue; null when none is ready.
   */
  private List<Task> takeReady() {
    long now = System.nanoTime();
    Key best = null;
    long oldest = Long.MAX_VALUE;
    for (Map.Entry<Key, ArrayDeque<Task>> e : queues.entrySet()) {
      ArrayDeque<Task> q = e.getValue();
      if (q.isEmpty()) {
        continue;
      }
      long head = q.peek().enqueuedNanos;
      boolean full = q.stream().mapToInt(t -> t.rows).sum() >= options.maxBatchSize();
      boolean due = now - Math.max(head, freedNanos) >= options.batchTimeout().toNanos();
      if ((full || due) && head < oldest) {
        oldest = head;
        best = e.getKey();
      }
    }
    if (best == null) {
      return null;
    }
    ArrayDeque<Task> q = queues.get(best);
    List<Task> batch = new ArrayList<>();
    int rows = 0;
    for (Iterator<Task> it = q.iterator(); it.hasNext(); ) {
      Task t = it.next();
      if (rows + t.rows > options.maxBatchSize()) {
        break;
      }
      it.remove();
      rows += t.rows;
      take(t);
      batch.add(t);
    }
    if (q.isEmpty()) {
      queues.remove(best);
    }
    return batch;
  }

  private void take(Task t) {
    t.taken = true;
    pending--;
    if (t.expiry != null) {
      t.expiry.cancel(false);
    }
  }

  /** Nanoseconds until the first queue's timeout is due; MAX_VALUE when nothing is queued. */
  private long nextDeadlineNanos() {
    long now = System.nanoTime();
    long next = Long.MAX_VALUE;
    for (ArrayDeque<Task> q : queues.values()) {
      if (!q.isEmpty()) {
        long start = Math.max(q.peek().enqueuedNanos, freedNanos);
        next = Math.min(next, start + options.batchTimeout().toNanos() - now);
      }
    }
    return next == Long.MAX_VALUE ? next : Math.max(1, next);
  }

  private synchronized void expire(Task task) {
    if (!remove(task)) {
      return;
    }
    task.result.completeExceptionally(
        new ServingException(
            ErrorCode.RESOURCE_EXHAUSTED,
            String.format(
                "the server is busy: this prediction waited %s s to be batched (--queue-timeout;"
                    + " %d batch threads, --num_batch_threads); retry later",
                Durations.seconds(queueTimeout), options.numBatchThreads())));
  }

  private synchronized void leave(Task task) {
    if (remove(task)) {
      task.result.completeExceptionally(
          new ServingException(
              ErrorCode.CANCELLED, "the client closed the connection while waiting to be batched"));
    }
  }

  /** Removes a task that has not been taken; false if it has (or was removed already). */
  private boolean remove(Task task) {
    if (task.taken) {
      return false;
    }
    ArrayDeque<Task> q = queues.get(task.key);
    if (q == null || !q.remove(task)) {
      return false;
    }
    if (q.isEmpty()) {
      queues.remove(task.key);
    }
    take(task);
    return true;
  }

  /** Runs a batch: one merged graph run, or, when it fails on its inputs, one run per request. */
  private void run(List<Task> batch) {
    Task first = batch.get(0);
    int rows = batch.stream().mapToInt(t -> t.rows).sum();
    int padded = options.paddedSize(rows);
    Map<String, HostTensor> merged = merge(batch, padded);
    for (Task t : batch) {
      t.facts.runRows(padded);
    }
    metrics.recordRun(first.key.model().name(), first.key.signature(), padded);
    Map<String, HostTensor> outputs;
    try {
      outputs = first.key.model().predict(first.signature, merged);
    } catch (ServingException e) {
      if (batch.size() > 1 && e.code().httpStatus() < 500) {
        runAlone(batch);
      } else {
        fail(batch, e);
      }
      return;
    } catch (RuntimeException | Error e) {
      fail(batch, e);
      return;
    }
    int offset = 0;
    for (Task t : batch) {
      Map<String, HostTensor> own = new LinkedHashMap<>();
      for (Map.Entry<String, HostTensor> e : outputs.entrySet()) {
        own.put(e.getKey(), rows(e.getValue(), offset, t.rows));
      }
      offset += t.rows;
      t.result.complete(own);
    }
  }

  /** Runs each request of a failed batch on its own, so that only the faulty ones fail. */
  private void runAlone(List<Task> batch) {
    for (Task t : batch) {
      t.facts.runRows(t.rows);
      metrics.recordRun(t.key.model().name(), t.key.signature(), t.rows);
      try {
        t.result.complete(t.key.model().predict(t.signature, t.inputs));
      } catch (RuntimeException | Error e) {
        t.result.completeExceptionally(e);
      }
    }
  }

  private static void fail(List<Task> batch, Throwable e) {
    for (Task t : batch) {
      t.result.completeExceptionally(e);
    }
  }

  /**
   * The batch's inputs: batched ones concatenated along the first dimension and padded to {@code
   * padded} rows with copies of the last row; non-batched ones as the (equal) settings.
   */
  private static Map<String, HostTensor> merge(List<Task> batch, int padded) {
    Task first = batch.get(0);
    Map<String, HostTensor> merged = new LinkedHashMap<>();
    for (Map.Entry<String, HostTensor> e : first.inputs.entrySet()) {
      String name = e.getKey();
      if (!first.signature.inputs().get(name).isBatched()) {
        merged.put(name, e.getValue());
        continue;
      }
      HostTensor head = e.getValue();
      long rowSize = head.batch() == 0 ? 0 : head.size() / head.batch();
      int rowElements = Math.toIntExact(rowSize);
      Object values =
          Array.newInstance(head.values().getClass().getComponentType(), padded * rowElements);
      int at = 0;
      HostTensor last = head;
      for (Task t : batch) {
        HostTensor part = t.inputs.get(name);
        int n = Math.toIntExact(part.size());
        System.arraycopy(part.values(), 0, values, at, n);
        at += n;
        last = part;
      }
      int lastRow = Math.toIntExact(last.size() - rowElements);
      while (at < padded * rowElements) {
        System.arraycopy(last.values(), lastRow, values, at, rowElements);
        at += rowElements;
      }
      long[] shape = head.shape().clone();
      shape[0] = padded;
      merged.put(name, new HostTensor(head.dtype(), shape, values));
    }
    return merged;
  }

  /** Rows {@code [from, from + count)} of a batched tensor. */
  static HostTensor rows(HostTensor t, int from, int count) {
    int rowElements = Math.toIntExact(t.batch() == 0 ? 0 : t.size() / t.batch());
    Object values =
        Array.newInstance(t.values().getClass().getComponentType(), count * rowElements);
    System.arraycopy(t.values(), from * rowElements, values, 0, count * rowElements);
    long[] shape = t.shape().clone();
    shape[0] = count;
    return new HostTensor(t.dtype(), shape, values);
  }

  /** Fails every queued request (503) and stops the threads; running batches are not waited for. */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
      for (ArrayDeque<Task> q : queues.values()) {
        for (Task t : q) {
          take(t);
          t.result.completeExceptionally(
              new ServingException(ErrorCode.UNAVAILABLE, "the server is shutting down"));
        }
      }
      queues.clear();
      notifyAll();
    }
    timer.shutdownNow();
  }
}
