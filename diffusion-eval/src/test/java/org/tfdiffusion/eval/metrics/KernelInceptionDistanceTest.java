package org.tfdiffusion.eval.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;

class KernelInceptionDistanceTest {

  private static double[][] gaussian(int n, int d, double shift, long seed) {
    Random random = new Random(seed);
    double[][] out = new double[n][d];
    for (double[] row : out) {
      for (int k = 0; k < d; k++) {
        row[k] = shift + random.nextGaussian();
      }
    }
    return out;
  }

  /** The unbiased MMD² written out with every pair visited, independent of the class's loops. */
  private static double direct(double[][] x, double[][] y) {
    int d = x[0].length;
    double xx = 0;
    for (int i = 0; i < x.length; i++) {
      for (int j = 0; j < x.length; j++) {
        if (i != j) {
          xx += poly(x[i], x[j], d);
        }
      }
    }
    double yy = 0;
    for (int i = 0; i < y.length; i++) {
      for (int j = 0; j < y.length; j++) {
        if (i != j) {
          yy += poly(y[i], y[j], d);
        }
      }
    }
    double xy = 0;
    for (double[] a : x) {
      for (double[] b : y) {
        xy += poly(a, b, d);
      }
    }
    int m = x.length;
    int n = y.length;
    return xx / (m * (m - 1.0)) + yy / (n * (n - 1.0)) - 2 * xy / ((double) m * n);
  }

  private static double poly(double[] a, double[] b, int d) {
    double dot = 0;
    for (int k = 0; k < d; k++) {
      dot += a[k] * b[k];
    }
    return Math.pow(dot / d + 1, 3);
  }

  @Test
  void unbiasedMmdMatchesTheDirectSum() {
    double[][] x = gaussian(30, 5, 0.0, 1);
    double[][] y = gaussian(40, 5, 0.5, 2);
    double expected = direct(x, y);
    assertThat(KernelInceptionDistance.mmd2Unbiased(x, y))
        .isCloseTo(expected, within(1e-12 * Math.abs(expected) + 1e-14));
    assertThat(expected).isPositive();
  }

  @Test
  void oneSubsetOfEverythingIsTheDirectSum() {
    double[][] x = gaussian(25, 6, 0.0, 3);
    double[][] y = gaussian(25, 6, 0.3, 4);
    KernelInceptionDistance.Result r = KernelInceptionDistance.compute(x, y, 1, 1000, 9);
    assertThat(r.subsetSize()).isEqualTo(25);
    assertThat(r.subsets()).isEqualTo(1);
    assertThat(r.mean()).isCloseTo(direct(x, y), within(1e-12));
    assertThat(r.std()).isZero();
  }

  @Test
  void sameDistributionIsNearZeroAndAShiftIsClearlyPositive() {
    double[][] real = gaussian(600, 16, 0.0, 5);
    double[][] same = gaussian(600, 16, 0.0, 6);
    double[][] shifted = gaussian(600, 16, 0.4, 7);
    KernelInceptionDistance.Result a = KernelInceptionDistance.compute(real, same, 20, 200, 1);
    KernelInceptionDistance.Result b = KernelInceptionDistance.compute(real, shifted, 20, 200, 1);
    // the mean over 20 subsets is within a few standard errors of 0
    assertThat(Math.abs(a.mean())).isLessThan(4 * a.std() / Math.sqrt(20) + 1e-3);
    assertThat(b.mean()).isGreaterThan(10 * Math.abs(a.mean()));
    assertThat(b.mean()).isGreaterThan(5 * b.std() / Math.sqrt(20));
    // the seed fixes the subsets
    assertThat(KernelInceptionDistance.compute(real, shifted, 20, 200, 1)).isEqualTo(b);
  }

  @Test
  void theKernelIsTheCubicPolynomial() {
    double[] a = {1, 2, 3, 4};
    double[] b = {0.5, -1, 2, 0};
    // aᵀb = 0.5 - 2 + 6 = 4.5; (4.5 / 4 + 1)³ = 2.125³
    assertThat(KernelInceptionDistance.kernel(a, b)).isCloseTo(9.595703125, within(1e-12));
  }

  @Test
  void badInputIsRefused() {
    assertThatThrownBy(
            () ->
                KernelInceptionDistance.compute(
                    gaussian(1, 3, 0, 1), gaussian(5, 3, 0, 1), 1, 10, 1))
        .hasMessageContaining("at least 2 vectors in the first set");
    double[][] y = gaussian(5, 3, 0, 1);
    y[2][1] = Double.POSITIVE_INFINITY;
    assertThatThrownBy(() -> KernelInceptionDistance.mmd2Unbiased(gaussian(5, 3, 0, 1), y))
        .hasMessageContaining("second set: vector 2 holds Infinity");
  }
}
