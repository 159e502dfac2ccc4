package org.tfdiffusion.testing;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Element-wise comparisons of computed arrays with plain-Java references, reporting the index and
 * both values of the first few mismatches.
 */
public final class ArrayAsserts {
  private static final int MAX_REPORTED = 5;

  private ArrayAsserts() {}

  /** {@code |actual[i] - expected[i]| <= rel * |expected[i]|} for every i (so 0 must be exact). */
  public static void assertRelativelyClose(
      String what, double[] actual, double[] expected, double rel) {
    double[] tolerance = new double[expected.length];
    for (int i = 0; i < expected.length; i++) {
      tolerance[i] = rel * Math.abs(expected[i]);
    }
    assertWithin(what, actual, expected, tolerance);
  }

  /** {@code |actual[i] - expected[i]| <= tolerance[i]} for every i; NaN never passes. */
  public static void assertWithin(
      String what, double[] actual, double[] expected, double[] tolerance) {
    assertThat(actual).as("%s: length", what).hasSameSizeAs(expected);
    StringBuilder mismatches = new StringBuilder();
    int count = 0;
    for (int i = 0; i < expected.length; i++) {
      double error = Math.abs(actual[i] - expected[i]);
      if (!(error <= tolerance[i])) {
        count++;
        if (count <= MAX_REPORTED) {
          mismatches.append(
              String.format(
                  "%n  [%d] actual %.17g, expected %.17g, error %.3g > tolerance %.3g",
                  i, actual[i], expected[i], error, tolerance[i]));
        }
      }
    }
    assertThat(mismatches.toString())
        .as("%s: %d of %d elements out of tolerance", what, count, expected.length)
        .isEmpty();
  }

  /**
   * {@code |actual[i] - expected[i]| <= abs + rel * |expected[i]|} for every i: a float32 graph
   * result against a double-precision reference, where {@code abs} covers outputs that cancel to
   * near 0.
   */
  public static void assertClose(
      String what, float[] actual, double[] expected, double rel, double abs) {
    double[] tolerance = new double[expected.length];
    for (int i = 0; i < expected.length; i++) {
      tolerance[i] = abs + rel * Math.abs(expected[i]);
    }
    assertWithin(what, actual, expected, tolerance);
  }

  /** As {@link #assertWithin(String, double[], double[], double[])} for float results. */
  public static void assertWithin(
      String what, float[] actual, double[] expected, double[] tolerance) {
    assertWithin(what, widen(actual), expected, tolerance);
  }

  /**
   * One computation in two graphs, equal up to float32 rounding: {@code |actual[i] - expected[i]|
   * <= 64 u (|expected[i]| + 1)}, u = 2^-24. A sampling loop is lowered into its graph's own
   * frames, where TensorFlow's optimiser rewrites the arithmetic around what that graph holds as
   * constants (a seed, a batch size) and XLA compiles each shape on its own, so the same images
   * from two graphs agree to a few units in the last place, not bit for bit. A different seed, step
   * or coefficient moves values by orders of magnitude more.
   */
  public static void assertSameUpToRounding(String what, float[] actual, float[] expected) {
    double unit = 64 * 0x1p-24;
    assertClose(what, actual, widen(expected), unit, unit);
  }

  /** The values as doubles (exact). */
  public static double[] widen(float[] values) {
    double[] out = new double[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = values[i];
    }
    return out;
  }
}
