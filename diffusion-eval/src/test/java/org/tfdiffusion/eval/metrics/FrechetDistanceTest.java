package org.tfdiffusion.eval.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;

class FrechetDistanceTest {

  /** n correlated vectors: z ~ N(0, I) mixed by a fixed random matrix, plus an offset. */
  private static double[][] correlated(int n, int d, long seed, double offset) {
    Random random = new Random(seed);
    double[][] mix = new double[d][d];
    for (double[] row : mix) {
      for (int k = 0; k < d; k++) {
        row[k] = random.nextGaussian() / Math.sqrt(d);
      }
    }
    double[][] out = new double[n][d];
    double[] z = new double[d];
    for (double[] row : out) {
      for (int k = 0; k < d; k++) {
        z[k] = random.nextGaussian();
      }
      for (int a = 0; a < d; a++) {
        double s = offset;
        for (int b = 0; b < d; b++) {
          s += mix[a][b] * z[b];
        }
        row[a] = s;
      }
    }
    return out;
  }

  @Test
  void aSetHasDistanceZeroToItself() {
    double[][] x = correlated(400, 32, 1, 5.0);
    GaussianStats stats = GaussianStats.fit(x);
    assertThat(FrechetDistance.between(x, x)).isCloseTo(0.0, within(1e-9 * stats.trace()));
  }

  @Test
  void twoByTwoMatchesTheClosedFormForNonCommutingCovariances() {
    // For 2x2 PSD matrices the eigenvalues λ1, λ2 of Σ1Σ2 satisfy λ1 + λ2 = Tr(Σ1Σ2) and
    // λ1 λ2 = det Σ1 det Σ2, so Tr (Σ1Σ2)^{1/2} = √λ1 + √λ2 = √(Tr(Σ1Σ2) + 2 √(det Σ1 det Σ2)).
    double[][] s1 = {{2.0, 0.6}, {0.6, 1.0}};
    double[][] s2 = {{1.0, -0.3}, {-0.3, 0.5}};
    double[] mu1 = {1.0, 2.0};
    double[] mu2 = {0.0, -1.0};
    double trProduct =
        s1[0][0] * s2[0][0] + s1[0][1] * s2[1][0] + s1[1][0] * s2[0][1] + s1[1][1] * s2[1][1];
    double det1 = s1[0][0] * s1[1][1] - s1[0][1] * s1[1][0];
    double det2 = s2[0][0] * s2[1][1] - s2[0][1] * s2[1][0];
    double traceSqrt = Math.sqrt(trProduct + 2 * Math.sqrt(det1 * det2));
    double expected = 1 + 9 + (2.0 + 1.0) + (1.0 + 0.5) - 2 * traceSqrt;

    double fd = FrechetDistance.between(GaussianStats.of(mu1, s1), GaussianStats.of(mu2, s2));

    assertThat(fd).isCloseTo(expected, within(1e-12));
  }

  @Test
  void sharedEigenvectorsGiveTheSumOfSquaredRootDifferences() {
    // Σ1 = R D1 Rᵀ and Σ2 = R D2 Rᵀ commute, so FD = ‖Δμ‖² + Σ (√a_i - √b_i)².
    int d = 16;
    double[][] r = randomRotation(d, 7);
    Random random = new Random(3);
    double[] a = new double[d];
    double[] b = new double[d];
    double[] mu1 = new double[d];
    double[] mu2 = new double[d];
    double expected = 0;
    for (int i = 0; i < d; i++) {
      a[i] = 0.1 + 3 * random.nextDouble();
      b[i] = i == 0 ? 0.0 : 0.1 + 3 * random.nextDouble(); // one direction singular
      mu1[i] = random.nextGaussian();
      mu2[i] = random.nextGaussian();
      expected += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
      expected += (Math.sqrt(a[i]) - Math.sqrt(b[i])) * (Math.sqrt(a[i]) - Math.sqrt(b[i]));
    }
    double fd =
        FrechetDistance.between(
            GaussianStats.of(mu1, rotate(r, a)), GaussianStats.of(mu2, rotate(r, b)));
    // the singular direction's eigenvalue is rounding-sized (~1e-16) and its square root ~1e-8
    assertThat(fd).isCloseTo(expected, within(1e-7));
  }

  @Test
  void fittedFromSamplesItApproachesTheClosedForm() {
    // 1-D: FD = (μ1 - μ2)² + (σ1 - σ2)²; N(1, 2²) against N(-1, 1): 4 + 1 = 5
    Random random = new Random(11);
    int n = 20000;
    double[][] x = new double[n][1];
    double[][] y = new double[n][1];
    for (int i = 0; i < n; i++) {
      x[i][0] = 1 + 2 * random.nextGaussian();
      y[i][0] = -1 + random.nextGaussian();
    }
    assertThat(FrechetDistance.between(x, y)).isCloseTo(5.0, within(0.15));
  }

  @Test
  void fittingUsesTheUnbiasedCovariance() {
    double[][] x = {{1, 2}, {3, 0}, {5, 4}};
    GaussianStats s = GaussianStats.fit(x);
    assertThat(s.mean()).containsExactly(3.0, 2.0);
    // centred: (-2, 0), (0, -2), (2, 2); divisor n - 1 = 2
    assertThat(s.covariance()[0]).containsExactly(4.0, 2.0);
    assertThat(s.covariance()[1]).containsExactly(2.0, 4.0);
  }

  @Test
  void badInputIsRefusedWithTheReason() {
    double[][] x = correlated(10, 4, 1, 0);
    x[3][2] = Double.NaN;
    assertThatThrownBy(() -> GaussianStats.fit(x))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("feature vector 3 holds NaN");
    assertThatThrownBy(() -> GaussianStats.fit(new double[][] {{1, 2}}))
        .hasMessageContaining("at least 2");
    assertThatThrownBy(
            () -> FrechetDistance.between(correlated(10, 4, 1, 0), correlated(10, 5, 1, 0)))
        .hasMessageContaining("feature dimensions differ: 4 vs 5");
  }

  private static double[][] rotate(double[][] r, double[] diagonal) {
    int d = diagonal.length;
    double[][] out = new double[d][d];
    for (int i = 0; i < d; i++) {
      for (int j = 0; j < d; j++) {
        double s = 0;
        for (int k = 0; k < d; k++) {
          s += r[i][k] * diagonal[k] * r[j][k];
        }
        out[i][j] = s;
      }
    }
    // exact symmetry, as a covariance has
    for (int i = 0; i < d; i++) {
      for (int j = 0; j < i; j++) {
        out[j][i] = out[i][j];
      }
    }
    return out;
  }

  /** An orthogonal matrix: Gram-Schmidt on Gaussian columns. */
  private static double[][] randomRotation(int d, long seed) {
    Random random = new Random(seed);
    double[][] q = new double[d][d]; // q[k] is column k
    for (int k = 0; k < d; k++) {
      double[] v = new double[d];
      for (int i = 0; i < d; i++) {
        v[i] = random.nextGaussian();
      }
      for (int j = 0; j < k; j++) {
        double dot = 0;
        for (int i = 0; i < d; i++) {
          dot += v[i] * q[j][i];
        }
        for (int i = 0; i < d; i++) {
          v[i] -= dot * q[j][i];
        }
      }
      double norm = 0;
      for (double value : v) {
        norm += value * value;
      }
      norm = Math.sqrt(norm);
      for (int i = 0; i < d; i++) {
        q[k][i] = v[i] / norm;
      }
    }
    double[][] r = new double[d][d];
    for (int i = 0; i < d; i++) {
      for (int k = 0; k < d; k++) {
        r[i][k] = q[k][i];
      }
    }
    return r;
  }
}
