package org.tfdiffusion.eval.metrics;

import static com.google.common.base.Preconditions.checkArgument;

import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.EigenDecomposition_F64;

/**
 * The Fréchet distance between two Gaussians (Dowson &amp; Landau 1982), the statistic of FID
 * (Heusel et al. 2017) with any feature extractor:
 *
 * <pre>
 *   FD = ‖μ₁ - μ₂‖² + Tr(Σ₁ + Σ₂ - 2 (Σ₁ Σ₂)^{1/2})
 * </pre>
 *
 * The trace of the matrix square root is computed from the symmetric form: Σ₁Σ₂ is similar to A Σ₂
 * A with A = Σ₁^{1/2} (both PSD), so Tr (Σ₁Σ₂)^{1/2} = Σ_i √λ_i(A Σ₂ A). Both square roots come
 * from symmetric eigendecompositions (EJML), with eigenvalues that rounding pushed below zero
 * clipped to zero, so a singular covariance (features that never fire) needs no ε on the diagonal
 * and the result is real. In double precision.
 */
public final class FrechetDistance {
  private FrechetDistance() {}

  /**
   * The Fréchet distance between two fitted Gaussians.
   *
   * @throws IllegalArgumentException if their dimensions differ
   * @throws IllegalStateException if an eigendecomposition does not converge
   */
  public static double between(GaussianStats a, GaussianStats b) {
    checkArgument(
        a.dimension() == b.dimension(),
        "feature dimensions differ: %s vs %s (the same classifier must embed both sets)",
        a.dimension(),
        b.dimension());
    double[] mu1 = a.meanView();
    double[] mu2 = b.meanView();
    double meanTerm = 0;
    for (int k = 0; k < mu1.length; k++) {
      double diff = mu1[k] - mu2[k];
      meanTerm += diff * diff;
    }
    double traceSqrt = traceOfSqrtProduct(a.covarianceView(), b.covarianceView());
    return meanTerm + a.trace() + b.trace() - 2 * traceSqrt;
  }

  /** The distance between the Gaussians fitted to two feature sets (rows = vectors). */
  public static double between(double[][] x, double[][] y) {
    return between(GaussianStats.fit(x), GaussianStats.fit(y));
  }

  /** Tr (Σ₁ Σ₂)^{1/2} for symmetric PSD Σ₁, Σ₂, as Σ_i √max(0, λ_i(Σ₁^{1/2} Σ₂ Σ₁^{1/2})). */
  static double traceOfSqrtProduct(double[][] sigma1, double[][] sigma2) {
    DMatrixRMaj s1 = new DMatrixRMaj(sigma1);
    DMatrixRMaj s2 = new DMatrixRMaj(sigma2);
    DMatrixRMaj root = symmetricSqrt(s1);
    int d = s1.numRows;
    DMatrixRMaj tmp = new DMatrixRMaj(d, d);
    DMatrixRMaj m = new DMatrixRMaj(d, d);
    CommonOps_DDRM.mult(root, s2, tmp);
    CommonOps_DDRM.mult(tmp, root, m);
    symmetrize(m);
    double sum = 0;
    for (double lambda : symmetricEigenvalues(m)) {
      sum += Math.sqrt(Math.max(0, lambda));
    }
    return sum;
  }

  /** V diag(√max(0, λ)) Vᵀ of a symmetric matrix. */
  static DMatrixRMaj symmetricSqrt(DMatrixRMaj symmetric) {
    int d = symmetric.numRows;
    DMatrixRMaj input = symmetric.copy();
    symmetrize(input);
    EigenDecomposition_F64<DMatrixRMaj> eig = DecompositionFactory_DDRM.eig(d, true, true);
    if (!eig.decompose(input)) {
      throw new IllegalStateException(
          "the eigendecomposition of a " + d + "x" + d + " covariance did not converge");
    }
    DMatrixRMaj root = new DMatrixRMaj(d, d);
    for (int i = 0; i < eig.getNumberOfEigenvalues(); i++) {
      double s = Math.sqrt(Math.max(0, eig.getEigenvalue(i).getReal()));
      DMatrixRMaj v = eig.getEigenVector(i);
      if (s == 0 || v == null) {
        continue;
      }
      // root += s · v vᵀ
      for (int r = 0; r < d; r++) {
        double vr = s * v.get(r, 0);
        for (int c = 0; c < d; c++) {
          root.add(r, c, vr * v.get(c, 0));
        }
      }
    }
    return root;
  }

  private static double[] symmetricEigenvalues(DMatrixRMaj symmetric) {
    int d = symmetric.numRows;
    EigenDecomposition_F64<DMatrixRMaj> eig = DecompositionFactory_DDRM.eig(d, false, true);
    if (!eig.decompose(symmetric.copy())) {
      throw new IllegalStateException(
          "the eigendecomposition of a " + d + "x" + d + " matrix did not converge");
    }
    double[] values = new double[eig.getNumberOfEigenvalues()];
    for (int i = 0; i < values.length; i++) {
      values[i] = eig.getEigenvalue(i).getReal();
    }
    return values;
  }

  private static void symmetrize(DMatrixRMaj m) {
    for (int r = 0; r < m.numRows; r++) {
      for (int c = r + 1; c < m.numCols; c++) {
        double v = 0.5 * (m.get(r, c) + m.get(c, r));
        m.set(r, c, v);
        m.set(c, r, v);
      }
    }
  }
}
