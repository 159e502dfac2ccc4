package org.tfdiffusion.run;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Optional;
import java.util.function.LongSupplier;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Progress of a long loop: a bar on a terminal; otherwise (a log file, a pipe) one line at each
 * tenth of the work, so that a log holds a few lines instead of every frame of a bar. The time left
 * is estimated from the steady rate ({@link SteadyRate}): the first step, which includes graph
 * setup and XLA's compilation, is not counted.
 */
public final class ProgressMeter implements AutoCloseable {
  /** Lines are printed at each 1/{@value #LINES}-th of the work. */
  static final int LINES = 10;

  private static final int BAR_UPDATE_MILLIS = 1000;

  private final String task;
  private final long max;
  private final String unit;
  private final PrintStream out;
  private final LongSupplier nanoClock;
  private final SteadyRate rate = new SteadyRate();
  private final ProgressBar bar;
  private long current;
  private int linesPrinted;

  private ProgressMeter(
      String task,
      long max,
      String unit,
      PrintStream out,
      LongSupplier nanoClock,
      boolean terminal,
      long start) {
    this.task = task;
    this.max = max;
    this.unit = unit;
    this.out = out;
    this.nanoClock = nanoClock;
    this.current = start;
    rate.observe(start, nanoClock.getAsLong());
    this.bar =
        terminal
            ? new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax(max)
                .startsFrom(start, Duration.ZERO)
                .setStyle(ProgressBarStyle.ASCII)
                .setUnit(" " + unit, 1)
                .setUpdateIntervalMillis(BAR_UPDATE_MILLIS)
                .setEtaFunction(state -> rate.remaining(state.getCurrent(), state.getMax()))
                .setConsumer(new ConsoleProgressBarConsumer(out))
                .build()
            : null;
    this.linesPrinted = (int) (start * LINES / Math.max(1, max));
  }

  /**
   * A bar when this process runs on a terminal ({@link System#console()}), else lines.
   *
   * @param task the name shown first
   * @param max the work in {@code unit}s
   * @param unit what is counted, e.g. "img" or "steps"
   * @param out where the progress goes (stderr)
   */
  public static ProgressMeter create(String task, long max, String unit, PrintStream out) {
    return create(task, 0, max, unit, out, System.console() != null);
  }

  /** As {@link #create(String, long, String, PrintStream)}, starting at {@code start} of max. */
  public static ProgressMeter create(
      String task, long start, long max, String unit, PrintStream out, boolean terminal) {
    return new ProgressMeter(task, max, unit, out, System::nanoTime, terminal, start);
  }

  /** Lines only, with the given clock (for tests). */
  static ProgressMeter lines(
      String task, long max, String unit, PrintStream out, LongSupplier nanoClock) {
    return new ProgressMeter(task, max, unit, out, nanoClock, false, 0);
  }

  /** The work done so far: {@code done} of max. */
  public synchronized void stepTo(long done) {
    current = done;
    rate.observe(done, nanoClock.getAsLong());
    if (bar != null) {
      bar.stepTo(done);
      return;
    }
    int tenth = (int) (Math.min(done, max) * LINES / Math.max(1, max));
    if (tenth > linesPrinted) {
      linesPrinted = tenth;
      out.printf(
          "%s: %d/%d %s (%d%%)%s%n",
          task,
          done,
          max,
          unit,
          Math.round(100.0 * done / Math.max(1, max)),
          done >= max
              ? ""
              : rate.remaining(done, max).map(d -> ", " + formatEta(d) + " left").orElse(""));
      out.flush();
    }
  }

  /** A message shown next to the bar (not in lines). */
  public synchronized void setExtraMessage(String message) {
    if (bar != null) {
      bar.setExtraMessage(message);
    }
  }

  /** The work done so far. */
  public synchronized long current() {
    return current;
  }

  @Override
  public synchronized void close() {
    if (bar != null) {
      bar.close();
    }
  }

  /** "1h02m", "3m07s". */
  public static String formatEta(Duration left) {
    long s = Math.max(0, Math.round(left.toMillis() / 1000.0));
    return s >= 3600
        ? String.format("%dh%02dm", s / 3600, (s % 3600) / 60)
        : String.format("%dm%02ds", s / 60, s % 60);
  }

  /**
   * The rate of a loop measured from the end of its first step on: the first step (graph setup,
   * XLA's compilation, memory growth) can take many times a later one, and an estimate that counts
   * it is far off early on. With n units done at time T₁ after the first step's end at (n₁, T₁),
   * the time left for max − n units is (max − n) · (T − T₁) / (n − n₁).
   */
  public static final class SteadyRate {
    private long startCount = -1;
    private long firstCount = -1;
    private long firstNanos;
    private long lastCount;
    private long lastNanos;

    /** Records that {@code count} units are done at {@code nanos} (any monotonic clock). */
    public synchronized void observe(long count, long nanos) {
      if (startCount < 0) {
        startCount = count;
      } else if (firstCount < 0 && count > startCount) {
        firstCount = count;
        firstNanos = nanos;
      }
      lastCount = count;
      lastNanos = nanos;
    }

    /** Units per second after the first step; empty until a second step has ended. */
    public synchronized Optional<Double> perSecond() {
      if (firstCount < 0 || lastCount <= firstCount || lastNanos <= firstNanos) {
        return Optional.empty();
      }
      return Optional.of((lastCount - firstCount) / ((lastNanos - firstNanos) / 1e9));
    }

    /** The time left for {@code max − done} units at the steady rate; empty while unknown. */
    public synchronized Optional<Duration> remaining(long done, long max) {
      return perSecond()
          .map(r -> Duration.ofMillis(Math.round(Math.max(0, max - done) / r * 1000)));
    }
  }
}
