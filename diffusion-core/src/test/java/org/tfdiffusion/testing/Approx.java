package org.tfdiffusion.testing;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Element-wise comparison of a float32 graph output with a double-precision reference: every value
 * must satisfy {@code |actual - expected| <= abs + rel·|expected|}. On failure the message names
 * how many values failed and the worst one.
 */
public final class Approx {
  private Approx() {}

  /** Asserts that {@code actual} matches {@code expected} element-wise within the tolerance. */
  public static void assertAllClose(
      String what, float[] actual, double[] expected, double rel, double abs) {
    assertThat(actual).as("%s: number of values", what).hasSize(expected.length);
    int failures = 0;
    int worst = -1;
    double worstRatio = -1;
    for (int i = 0; i < actual.length; i++) {
      double error = Math.abs(actual[i] - expected[i]);
      double allowed = abs + rel * Math.abs(expected[i]);
      double ratio = Double.isNaN(error) ? Double.POSITIVE_INFINITY : error / allowed;
      if (!(error <= allowed)) {
        failures++;
      }
      if (ratio > worstRatio) {
        worstRatio = ratio;
        worst = i;
      }
    }
    assertThat(failures)
        .as(
            "%s: values outside |a - e| <= %s + %s|e| (of %s); worst at [%s]: actual %s, expected"
                + " %s",
            what,
            abs,
            rel,
            actual.length,
            worst,
            worst < 0 ? null : actual[worst],
            worst < 0 ? null : expected[worst])
        .isZero();
  }
}
