package org.tfdiffusion.export.serving;

import java.time.Duration;

/** Durations as the serve options and messages write them. */
public final class Durations {
  private Durations() {}

  /** In seconds, as the options take them: {@code 10}, {@code 0.25}. */
  public static String seconds(Duration d) {
    double s = d.toNanos() / 1e9;
    return s == Math.rint(s) ? String.valueOf((long) s) : String.valueOf(s);
  }
}
