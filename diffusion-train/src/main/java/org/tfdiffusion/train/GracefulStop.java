package org.tfdiffusion.train;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * How a training loop stops on Ctrl-C or SIGTERM. The JVM's shutdown hook calls {@link
 * #requestAndAwait}: the loop finishes its current step, saves a checkpoint, and only then draws
 * its final sample grid; the hook waits for the checkpoint (at most {@code saveWait}) and then for
 * the rest (at most {@code finishWait}), so a slow grid can delay the exit by {@code finishWait}
 * only and never costs the checkpoint.
 *
 * <p>The hook waits on latches that the loop releases, not on the training thread itself: that
 * thread may go on to call {@code System.exit}, which blocks while the hooks run, so waiting for it
 * to end held every stop for the whole wait.
 */
public final class GracefulStop {
  /** How long a stop waits for the current step and the checkpoint. */
  static final Duration SAVE_WAIT = Duration.ofSeconds(120);

  /** How long a stop waits, once the checkpoint is saved, for the final sample grid. */
  static final Duration FINISH_WAIT = Duration.ofSeconds(10);

  /** How a requested stop ended, as seen by the waiting hook. */
  public enum Ending {
    /** The loop saved its checkpoint and finished (grid included). */
    FINISHED,
    /** The checkpoint is saved; the rest (the final grid) was cut short. */
    SAVED,
    /** No checkpoint was saved within the wait. */
    NOT_SAVED
  }

  private volatile boolean requested;
  private final CountDownLatch saved = new CountDownLatch(1);
  private final CountDownLatch finished = new CountDownLatch(1);

  /** Asks the loop to save a checkpoint and stop after its current step. */
  void request() {
    requested = true;
  }

  /** Whether a stop was asked for. */
  public boolean requested() {
    return requested;
  }

  /** Called by the loop once its final checkpoint is on disk. */
  public void checkpointSaved() {
    saved.countDown();
  }

  /** Called by the loop when it ends, however it ends (also after an error). */
  public void finished() {
    saved.countDown();
    finished.countDown();
  }

  /**
   * Requests the stop and waits for the checkpoint, then for the end of the loop.
   *
   * @return how far the loop got within the waits
   */
  public Ending requestAndAwait(Duration saveWait, Duration finishWait) {
    request();
    try {
      if (!saved.await(saveWait.toMillis(), TimeUnit.MILLISECONDS)) {
        return Ending.NOT_SAVED;
      }
      return finished.await(finishWait.toMillis(), TimeUnit.MILLISECONDS)
          ? Ending.FINISHED
          : Ending.SAVED;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return saved.getCount() == 0 ? Ending.SAVED : Ending.NOT_SAVED;
    }
  }
}
