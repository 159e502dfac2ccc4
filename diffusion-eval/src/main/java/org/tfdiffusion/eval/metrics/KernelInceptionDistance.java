package org.tfdiffusion.eval.metrics;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * KID (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimate of the squared
 * maximum mean discrepancy between two feature sets under the polynomial kernel
 *
 * <pre>
 *   k(x, y) = (xᵀy / d + 1)³
 *
 *   MMD²_u = 1/(m(m-1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m-1)) Σ_{i≠j} k(y_i, y_j)
 *            - 2/m² Σ_{i,j} k(x_i, y_j)
 * </pre>
 *
 * averaged over random subsets of m vectors from each set (drawn without replacement within a
 * subset, independently across subsets), reporting the mean and the (population) standard deviation
 * over subsets as the reference code and torch-fidelity do. Unbiased, so it can be slightly
 * negative for two samples of one distribution, and usable at small N. Double precision; the
 * subsets run in parallel but their indices are drawn first from the seed, so the result does not
 * depend on the number of threads.
 */
public final class KernelInceptionDistance {
  /** Subsets of the reference code and torch-fidelity. */
  public static final int DEFAULT_SUBSETS = 100;

  /** Subset size of the reference code and torch-fidelity (smaller when a set is smaller). */
  public static final int DEFAULT_SUBSET_SIZE = 1000;

  /** The polynomial kernel's degree. */
  public static final int DEGREE = 3;

  /**
   * The estimate: mean and standard deviation of MMD²_u over the subsets.
   *
   * @param subsetSize m, the vectors drawn from each set per subset
   */
  public record Result(double mean, double std, int subsets, int subsetSize) {}

  private KernelInceptionDistance() {}

  /**
   * KID between two feature sets (rows = vectors of one dimension d).
   *
   * @param subsets how many subsets to average, ≥ 1
   * @param subsetSize the largest m; the smaller set's size caps it
   * @param seed the seed of the subsets' indices
   * @throws IllegalArgumentException for sets of fewer than 2 vectors, mismatched dimensions or
   *     non-finite values
   */
  public static Result compute(double[][] x, double[][] y, int subsets, int subsetSize, long seed) {
    checkArgument(subsets >= 1, "KID needs at least 1 subset, got %s", subsets);
    checkArgument(subsetSize >= 2, "KID subsets need at least 2 vectors, got %s", subsetSize);
    checkSet(x, "first");
    checkSet(y, "second");
    checkArgument(
        x[0].length == y[0].length,
        "feature dimensions differ: %s vs %s (the same classifier must embed both sets)",
        x[0].length,
        y[0].length);
    int m = Math.min(subsetSize, Math.min(x.length, y.length));
    SplittableRandom random = new SplittableRandom(seed);
    int[][] xIndices = new int[subsets][];
    int[][] yIndices = new int[subsets][];
    for (int s = 0; s < subsets; s++) {
      xIndices[s] = sampleWithoutReplacement(random, x.length, m);
      yIndices[s] = sampleWithoutReplacement(random, y.length, m);
    }
    double[] values =
        IntStream.range(0, subsets)
            .parallel()
            .mapToDouble(s -> mmd2Unbiased(pick(x, xIndices[s]), pick(y, yIndices[s])))
            .toArray();
    double mean = 0;
    for (double v : values) {
      mean += v;
    }
    mean /= subsets;
    double variance = 0;
    for (double v : values) {
      variance += (v - mean) * (v - mean);
    }
    return new Result(mean, Math.sqrt(variance / subsets), subsets, m);
  }

  /**
   * MMD²_u between two sets of sizes m and n (each ≥ 2) under the polynomial kernel: the formula in
   * the class documentation, with 1/(n(n-1)) for the second set and 1/(mn) for the cross term when
   * the sizes differ.
   */
  public static double mmd2Unbiased(double[][] x, double[][] y) {
    checkSet(x, "first");
    checkSet(y, "second");
    int d = x[0].length;
    checkArgument(d == y[0].length, "feature dimensions differ: %s vs %s", d, y[0].length);
    int m = x.length;
    int n = y.length;
    double xx = kernelSum(x, x, d, true);
    double yy = kernelSum(y, y, d, true);
    double xy = kernelSum(x, y, d, false);
    return xx / ((double) m * (m - 1)) + yy / ((double) n * (n - 1)) - 2 * xy / ((double) m * n);
  }

  /** k(a, b) = (aᵀb / d + 1)³. */
  public static double kernel(double[] a, double[] b) {
    checkArgument(a.length == b.length, "vectors of %s and %s values", a.length, b.length);
    double dot = 0;
    for (int k = 0; k < a.length; k++) {
      dot += a[k] * b[k];
    }
    double base = dot / a.length + 1;
    return base * base * base;
  }

  /**
   * Σ_{i,j} k(a_i, b_j), without the terms i = j when {@code self} (a and b the same set). Each row
   * of dot products a_iᵀB is accumulated as Σ_k a_ik B[k, :] over the transposed B, a loop without
   * a carried sum that the JIT vectorises; zero features (ReLU) are skipped.
   */
  private static double kernelSum(double[][] a, double[][] b, int d, boolean self) {
    int n = b.length;
    double[][] bt = new double[d][n];
    for (int j = 0; j < n; j++) {
      for (int k = 0; k < d; k++) {
        bt[k][j] = b[j][k];
      }
    }
    double[] dots = new double[n];
    double sum = 0;
    for (int i = 0; i < a.length; i++) {
      java.util.Arrays.fill(dots, 0);
      double[] ai = a[i];
      for (int k = 0; k < d; k++) {
        double v = ai[k];
        if (v == 0) {
          continue;
        }
        double[] column = bt[k];
        for (int j = 0; j < n; j++) {
          dots[j] += v * column[j];
        }
      }
      for (int j = 0; j < n; j++) {
        if (self && j == i) {
          continue;
        }
        double base = dots[j] / d + 1;
        sum += base * base * base;
      }
    }
    return sum;
  }

  private static double[][] pick(double[][] rows, int[] indices) {
    double[][] out = new double[indices.length][];
    for (int i = 0; i < indices.length; i++) {
      out[i] = rows[indices[i]];
    }
    return out;
  }

  /** k distinct indices of [0, n), by a partial Fisher-Yates shuffle. */
  private static int[] sampleWithoutReplacement(SplittableRandom random, int n, int k) {
    int[] all = new int[n];
    for (int i = 0; i < n; i++) {
      all[i] = i;
    }
    for (int i = 0; i < k; i++) {
      int j = i + random.nextInt(n - i);
      int t = all[i];
      all[i] = all[j];
      all[j] = t;
    }
    return java.util.Arrays.copyOf(all, k);
  }

  private static void checkSet(double[][] v, String which) {
    checkArgument(
        v.length >= 2, "KID needs at least 2 vectors in the %s set, got %s", which, v.length);
    int d = v[0].length;
    checkArgument(d >= 1, "the %s set's feature vectors are empty", which);
    for (int i = 0; i < v.length; i++) {
      checkArgument(
          v[i].length == d,
          "%s set: vector %s has %s values, the first %s",
          which,
          i,
          v[i].length,
          d);
      for (double value : v[i]) {
        checkArgument(
            Double.isFinite(value),
            "%s set: vector %s holds %s; the images or the classifier are broken",
            which,
            i,
            value);
      }
    }
  }
}
