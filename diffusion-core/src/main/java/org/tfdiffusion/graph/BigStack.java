package org.tfdiffusion.graph;

import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * Runs work on a thread with a large stack. TensorFlow runs a {@code While} op's iterations as
 * callbacks nested on the calling thread, about 9 KB of stack per iteration, so a 1000-step
 * compiled sampling loop overflows a default Java thread stack (the JVM dies with SIGSEGV, no
 * exception). Every {@code Session.run} of a compiled loop goes through here, whatever {@code -Xss}
 * the JVM was started with (for instance under {@code mvn exec:java}).
 */
public final class BigStack {
  /** Room for about 50 000 loop iterations; only the pages touched are ever committed. */
  public static final long STACK_BYTES = 512L * 1024 * 1024;

  private BigStack() {}

  /**
   * Runs {@code work} on a fresh thread with a {@link #STACK_BYTES} stack and returns its result.
   */
  public static <T> T call(Supplier<T> work) {
    AtomicReference<T> result = new AtomicReference<>();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Thread thread =
        new Thread(
            null,
            () -> {
              try {
                result.set(work.get());
              } catch (Throwable t) {
                failure.set(t);
              }
            },
            "tfdiffusion-loop",
            STACK_BYTES);
    thread.start();
    boolean interrupted = false;
    while (true) {
      try {
        thread.join();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    Throwable t = failure.get();
    if (t instanceof RuntimeException r) {
      throw r;
    }
    if (t instanceof Error e) {
      throw e;
    }
    if (t != null) {
      throw new IllegalStateException(t);
    }
    return result.get();
  }
}
