package org.tfdiffusion.eval.metrics;

import static com.google.common.base.Preconditions.checkArgument;

/**
 * The Gaussian fitted to a set of feature vectors: the sample mean μ and the unbiased sample
 * covariance Σ (numpy's {@code np.cov(x, rowvar=False)}, divisor n - 1), in double precision.
 *
 * <pre>
 *   μ = (1/n) Σ_i x_i          Σ = 1/(n - 1) Σ_i (x_i - μ)(x_i - μ)ᵀ
 * </pre>
 *
 * Immutable: the accessors return copies.
 */
public final class GaussianStats {
  private final int count;
  private final double[] mean;
  private final double[][] covariance;

  private GaussianStats(int count, double[] mean, double[][] covariance) {
    this.count = count;
    this.mean = mean;
    this.covariance = covariance;
  }

  /**
   * Fits the Gaussian to {@code rows} (n vectors of dimension d, n ≥ 2), centring first (two
   * passes) so that large means cost no precision.
   *
   * @throws IllegalArgumentException for fewer than 2 rows, ragged rows, or a NaN or infinite value
   *     (naming the row)
   */
  public static GaussianStats fit(double[][] rows) {
    checkArgument(
        rows.length >= 2, "a covariance needs at least 2 feature vectors, got %s", rows.length);
    int d = rows[0].length;
    checkArgument(d >= 1, "feature vectors are empty");
    double[] mean = new double[d];
    for (int i = 0; i < rows.length; i++) {
      double[] row = rows[i];
      checkArgument(
          row.length == d, "feature vector %s has %s values, the first has %s", i, row.length, d);
      for (int k = 0; k < d; k++) {
        checkArgument(
            Double.isFinite(row[k]),
            "feature vector %s holds %s at %s; the images or the classifier are broken",
            i,
            row[k],
            k);
        mean[k] += row[k];
      }
    }
    for (int k = 0; k < d; k++) {
      mean[k] /= rows.length;
    }
    double[][] cov = new double[d][d];
    double[] centred = new double[d];
    for (double[] row : rows) {
      for (int k = 0; k < d; k++) {
        centred[k] = row[k] - mean[k];
      }
      for (int a = 0; a < d; a++) {
        double ca = centred[a];
        if (ca == 0) {
          continue;
        }
        double[] line = cov[a];
        for (int b = a; b < d; b++) {
          line[b] += ca * centred[b];
        }
      }
    }
    double divisor = rows.length - 1;
    for (int a = 0; a < d; a++) {
      for (int b = a; b < d; b++) {
        cov[a][b] /= divisor;
        cov[b][a] = cov[a][b];
      }
    }
    return new GaussianStats(rows.length, mean, cov);
  }

  /**
   * A Gaussian given by its parameters (for closed-form checks).
   *
   * @throws IllegalArgumentException if the shapes disagree or Σ is not symmetric
   */
  public static GaussianStats of(double[] mean, double[][] covariance) {
    int d = mean.length;
    checkArgument(d >= 1, "the mean is empty");
    checkArgument(
        covariance.length == d, "covariance has %s rows, the mean %s values", covariance.length, d);
    double[][] cov = new double[d][];
    for (int a = 0; a < d; a++) {
      checkArgument(
          covariance[a].length == d,
          "covariance row %s has %s values, need %s",
          a,
          covariance[a].length,
          d);
      cov[a] = covariance[a].clone();
    }
    for (int a = 0; a < d; a++) {
      for (int b = 0; b < a; b++) {
        double scale = Math.max(1e-300, Math.abs(cov[a][b]) + Math.abs(cov[b][a]));
        checkArgument(
            Math.abs(cov[a][b] - cov[b][a]) <= 1e-12 * scale,
            "covariance is not symmetric at (%s, %s): %s vs %s",
            a,
            b,
            cov[a][b],
            cov[b][a]);
      }
    }
    return new GaussianStats(0, mean.clone(), cov);
  }

  /** The number of vectors fitted (0 when given by parameters). */
  public int count() {
    return count;
  }

  /** d, the feature dimension. */
  public int dimension() {
    return mean.length;
  }

  /** A copy of μ. */
  public double[] mean() {
    return mean.clone();
  }

  /** A copy of Σ. */
  public double[][] covariance() {
    double[][] copy = new double[covariance.length][];
    for (int a = 0; a < copy.length; a++) {
      copy[a] = covariance[a].clone();
    }
    return copy;
  }

  /** Σ_kk summed. */
  public double trace() {
    double t = 0;
    for (int k = 0; k < covariance.length; k++) {
      t += covariance[k][k];
    }
    return t;
  }

  /** The covariance entry without a copy (for this package). */
  double[][] covarianceView() {
    return covariance;
  }

  double[] meanView() {
    return mean;
  }
}
