package org.tfdiffusion.testing;

import org.tfdiffusion.diffusion.Prediction;

/**
 * diffusers' {@code DEISMultistepScheduler} ({@code algorithm_type="deis"}, {@code
 * solver_type="logrho"}, linspace spacing, final σ = σ(0)) in plain Java double precision on whole
 * arrays, independent of {@code org.tfdiffusion.sampling}, driven as its tests do (the model sees x
 * and the integer timestep). The coefficients are the integrals over [ρ_{s0}, ρ_t] of the Lagrange
 * basis in log ρ, taken here by composite Simpson's rule on the product form (diffusers writes them
 * in closed form, {@code ind_fn}).
 */
public final class ReferenceDeis {
  private ReferenceDeis() {}

  /** Simpson intervals: the integrands are smooth, the error far below float32's. */
  private static final int INTERVALS = 2000;

  /**
   * The full loop.
   *
   * @param sigmaKind "none" or "karras"
   * @param start the first sample
   */
  public static double[] run(
      double[] alphasCumprod,
      int steps,
      int order,
      String sigmaKind,
      boolean lowerOrderFinal,
      Prediction prediction,
      double[] start) {
    return run(alphasCumprod, steps, order, sigmaKind, lowerOrderFinal, prediction, null, 0, start);
  }

  /**
   * diffusers' {@code thresholding=True}: per image (row), s = torch.quantile(|x̂_0|, ratio) with
   * linear interpolation, s = clamp(s, 1, maxValue), x̂_0 = clamp(x̂_0, -s, s) / s.
   */
  public record Thresholding(double ratio, double maxValue, int rows) {
    double[] apply(double[] x0) {
      int pixels = x0.length / rows;
      double[] out = new double[x0.length];
      for (int r = 0; r < rows; r++) {
        double[] sorted = new double[pixels];
        for (int k = 0; k < pixels; k++) {
          sorted[k] = Math.abs(x0[r * pixels + k]);
        }
        java.util.Arrays.sort(sorted);
        double position = ratio * (pixels - 1);
        int lo = (int) Math.floor(position);
        int hi = Math.min(lo + 1, pixels - 1);
        double s = sorted[lo] + (position - lo) * (sorted[hi] - sorted[lo]);
        s = Math.min(Math.max(s, 1), maxValue);
        for (int k = 0; k < pixels; k++) {
          double v = x0[r * pixels + k];
          out[r * pixels + k] = Math.max(-s, Math.min(s, v)) / s;
        }
      }
      return out;
    }
  }

  /**
   * The loop from step {@code begin} (diffusers' set_begin_index: the history starts empty there),
   * with thresholding ({@code null}: none).
   *
   * @param sigmaKind "none" or "karras"
   * @param start the sample at step {@code begin}
   */
  public static double[] run(
      double[] alphasCumprod,
      int steps,
      int order,
      String sigmaKind,
      boolean lowerOrderFinal,
      Prediction prediction,
      Thresholding thresholding,
      int begin,
      double[] start) {
    int trainSteps = alphasCumprod.length;
    double[] trainSigmas = ReferenceSigmaSchedulers.trainSigmas(alphasCumprod);
    double[] logSigmas = ReferenceSigmaSchedulers.logs(trainSigmas);
    double[] timesteps = ReferenceSigmaSchedulers.linspaceTimesteps(trainSteps, steps);
    double[] rho = new double[steps + 1];
    if (sigmaKind.equals("none")) {
      for (int i = 0; i < steps; i++) {
        rho[i] = ReferenceSigmaSchedulers.interp(timesteps[i], trainSigmas);
      }
    } else {
      double[] levels =
          ReferenceSigmaSchedulers.convert(
              "karras", trainSigmas[trainSteps - 1], trainSigmas[0], steps);
      for (int i = 0; i < steps; i++) {
        rho[i] = levels[i];
        timesteps[i] = Math.rint(ReferenceSigmaSchedulers.sigmaToT(levels[i], logSigmas));
      }
    }
    rho[steps] = trainSigmas[0];
    int n = start.length;
    double[] x = start.clone();
    double[][] outputs = new double[3][];
    int lowerOrderNums = 0;
    for (int i = begin; i < steps; i++) {
      double alphaS0 = 1 / Math.sqrt(rho[i] * rho[i] + 1);
      double sigmaS0 = rho[i] * alphaS0;
      double alphaT = 1 / Math.sqrt(rho[i + 1] * rho[i + 1] + 1);
      double sigmaT = rho[i + 1] * alphaT;
      // convert_model_output: ε = (x - α x̂_0) / σ
      double[] x0 = new double[n];
      for (int k = 0; k < n; k++) {
        double out = x[k] * timesteps[i] / (timesteps[i] + 1);
        x0[k] =
            switch (prediction) {
              case EPSILON -> (x[k] - sigmaS0 * out) / alphaS0;
              case SAMPLE -> out;
              case V_PREDICTION -> alphaS0 * x[k] - sigmaS0 * out;
            };
      }
      if (thresholding != null) {
        x0 = thresholding.apply(x0);
      }
      double[] eps = new double[n];
      for (int k = 0; k < n; k++) {
        eps[k] = (x[k] - alphaS0 * x0[k]) / sigmaS0;
      }
      outputs[0] = outputs[1];
      outputs[1] = outputs[2];
      outputs[2] = eps;
      boolean lowerFinal = i == steps - 1 && lowerOrderFinal && steps < 15;
      boolean lowerSecond = i == steps - 2 && lowerOrderFinal && steps < 15;
      int p;
      if (order == 1 || lowerOrderNums < 1 || lowerFinal) {
        p = 1;
      } else if (order == 2 || lowerOrderNums < 2 || lowerSecond) {
        p = 2;
      } else {
        p = 3;
      }
      double[] next = new double[n];
      if (p == 1) {
        double lambdaT = Math.log(alphaT) - Math.log(sigmaT);
        double lambdaS = Math.log(alphaS0) - Math.log(sigmaS0);
        double h = lambdaT - lambdaS;
        for (int k = 0; k < n; k++) {
          next[k] = (alphaT / alphaS0) * x[k] - sigmaT * (Math.exp(h) - 1) * eps[k];
        }
      } else {
        double[] nodes = new double[p];
        for (int j = 0; j < p; j++) {
          nodes[j] = rho[i - j];
        }
        for (int k = 0; k < n; k++) {
          next[k] = x[k] / alphaS0;
        }
        for (int j = 0; j < p; j++) {
          double coef = integral(nodes, j, rho[i], rho[i + 1]);
          double[] m = outputs[2 - j];
          for (int k = 0; k < n; k++) {
            next[k] += coef * m[k];
          }
        }
        for (int k = 0; k < n; k++) {
          next[k] *= alphaT;
        }
      }
      if (lowerOrderNums < order) {
        lowerOrderNums++;
      }
      x = next;
    }
    return x;
  }

  /** ∫_a^b ℓ_j(ρ) dρ, ℓ_j the Lagrange basis in log ρ on the nodes, by Simpson's rule. */
  static double integral(double[] nodes, int j, double a, double b) {
    double step = (b - a) / INTERVALS;
    double sum = 0;
    for (int q = 0; q <= INTERVALS; q++) {
      double weight = q == 0 || q == INTERVALS ? 1 : q % 2 == 1 ? 4 : 2;
      sum += weight * basis(nodes, j, a + q * step);
    }
    return sum * step / 3;
  }

  private static double basis(double[] nodes, int j, double rho) {
    double value = 1;
    for (int m = 0; m < nodes.length; m++) {
      if (m != j) {
        value *= (Math.log(rho) - Math.log(nodes[m])) / (Math.log(nodes[j]) - Math.log(nodes[m]));
      }
    }
    return value;
  }
}
