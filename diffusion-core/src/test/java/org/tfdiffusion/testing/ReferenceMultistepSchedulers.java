package org.tfdiffusion.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import org.tfdiffusion.diffusion.Prediction;

/**
 * diffusers' multistep schedulers in plain Java double precision on whole arrays, independent of
 * {@code org.tfdiffusion.sampling}, written from their source as a loop of {@code step} calls with
 * the scheduler's own state (the list of model outputs, {@code lower_order_nums}, UniPC's {@code
 * last_sample} and {@code this_order}):
 *
 * <ul>
 *   <li>{@code DPMSolverMultistepScheduler} with {@code algorithm_type} "dpmsolver++", "dpmsolver"
 *       or "sde-dpmsolver++", {@code solver_order} 1-3, {@code solver_type="midpoint"};
 *   <li>{@code UniPCMultistepScheduler} with {@code predict_x0=True}, {@code solver_type} "bh1" or
 *       "bh2", any {@code solver_order} (its coefficient systems solved by Gaussian elimination).
 * </ul>
 *
 * Timesteps by linspace spacing; σ the timesteps' own ("none"), Karras' ("karras") or Lu's ("lu",
 * DPM-Solver only). The loop starts at {@code beginIndex} ({@code set_begin_index}) with an empty
 * history. The model is diffusers' dummy {@code sample * t / (t + 1)}.
 */
public final class ReferenceMultistepSchedulers {
  private ReferenceMultistepSchedulers() {}

  /**
   * A DPMSolverMultistepScheduler config.
   *
   * @param algorithm "dpmsolver++", "dpmsolver" or "sde-dpmsolver++"
   * @param sigmas "none", "karras" or "lu"
   */
  public record DpmConfig(
      int steps,
      int order,
      String algorithm,
      String sigmas,
      boolean lowerOrderFinal,
      boolean eulerAtFinal,
      boolean finalSigmaZero,
      Prediction prediction,
      int beginIndex) {}

  /**
   * A UniPCMultistepScheduler config.
   *
   * @param bh2 solver_type "bh2" (else "bh1")
   * @param sigmas "none" or "karras"
   */
  public record UniPcConfig(
      int steps,
      int order,
      boolean bh2,
      String sigmas,
      boolean lowerOrderFinal,
      boolean finalSigmaZero,
      Prediction prediction,
      int beginIndex) {}

  /** set_timesteps: N integer timesteps and N + 1 σ. */
  private record Schedule(double[] timesteps, double[] sigmas) {}

  private static Schedule schedule(
      double[] alphasCumprod, int steps, String sigmaKind, boolean finalZero, boolean uniPc) {
    int trainSteps = alphasCumprod.length;
    double[] trainSigmas = ReferenceSigmaSchedulers.trainSigmas(alphasCumprod);
    double[] logSigmas = ReferenceSigmaSchedulers.logs(trainSigmas);
    double[] timesteps = ReferenceSigmaSchedulers.linspaceTimesteps(trainSteps, steps);
    double[] sigmas = new double[steps + 1];
    double last = trainSigmas[0];
    if (sigmaKind.equals("none")) {
      for (int i = 0; i < steps; i++) {
        sigmas[i] = ReferenceSigmaSchedulers.interp(timesteps[i], trainSigmas);
      }
    } else {
      double[] levels =
          ReferenceSigmaSchedulers.convert(
              sigmaKind.equals("karras") ? "karras" : "exponential",
              trainSigmas[trainSteps - 1],
              trainSigmas[0],
              steps);
      for (int i = 0; i < steps; i++) {
        sigmas[i] = levels[i];
        timesteps[i] = Math.rint(ReferenceSigmaSchedulers.sigmaToT(levels[i], logSigmas));
      }
      if (uniPc) {
        // UniPC's sigma_min for converted σ is the last of them
        last = levels[steps - 1];
      }
    }
    sigmas[steps] = finalZero ? 0 : last;
    return new Schedule(timesteps, sigmas);
  }

  private static double alpha(double sigma) {
    return 1 / Math.sqrt(sigma * sigma + 1);
  }

  private static double lambda(double sigma) {
    double a = alpha(sigma);
    return Math.log(a) - Math.log(sigma * a);
  }

  private static double[] convert(
      Prediction prediction, boolean eps, double[] x, double t, double sigma) {
    double alphaT = alpha(sigma);
    double sigmaT = sigma * alphaT;
    double[] out = new double[x.length];
    for (int k = 0; k < x.length; k++) {
      double o = ReferenceSigmaSchedulers.model(x[k], t);
      double x0 =
          switch (prediction) {
            case EPSILON -> (x[k] - sigmaT * o) / alphaT;
            case SAMPLE -> o;
            case V_PREDICTION -> alphaT * x[k] - sigmaT * o;
          };
      out[k] = eps ? (x[k] - alphaT * x0) / sigmaT : x0;
    }
    return out;
  }

  /** The final sample of DPMSolverMultistepScheduler's loop from {@code start}. */
  public static double[] dpmSolver(
      double[] alphasCumprod, DpmConfig c, double[] start, IntFunction<double[]> noise) {
    Schedule s = schedule(alphasCumprod, c.steps(), c.sigmas(), c.finalSigmaZero(), false);
    double[] sig = s.sigmas();
    boolean plusPlus = !c.algorithm().equals("dpmsolver");
    boolean sde = c.algorithm().startsWith("sde");
    int n = start.length;
    double[] x = start.clone();
    List<double[]> outputs = new ArrayList<>();
    int lowerOrderNums = 0;
    int steps = c.steps();
    for (int i = c.beginIndex(); i < steps; i++) {
      boolean lowerOrderFinal =
          i == steps - 1
              && (c.eulerAtFinal() || (c.lowerOrderFinal() && steps < 15) || c.finalSigmaZero());
      boolean lowerOrderSecond = i == steps - 2 && c.lowerOrderFinal() && steps < 15;
      outputs.add(convert(c.prediction(), !plusPlus, x, s.timesteps()[i], sig[i]));
      double[] z = sde ? noise.apply(i) : null;
      double alphaT = alpha(sig[i + 1]);
      double sigmaT = sig[i + 1] * alphaT;
      double alphaS0 = alpha(sig[i]);
      double sigmaS0 = sig[i] * alphaS0;
      double h = lambda(sig[i + 1]) - lambda(sig[i]);
      int order;
      if (c.order() == 1 || lowerOrderNums < 1 || lowerOrderFinal) {
        order = 1;
      } else if (c.order() == 2 || lowerOrderNums < 2 || lowerOrderSecond) {
        order = 2;
      } else {
        order = 3;
      }
      double[] m0 = outputs.get(outputs.size() - 1);
      double[] m1 = order >= 2 ? outputs.get(outputs.size() - 2) : null;
      double[] m2 = order >= 3 ? outputs.get(outputs.size() - 3) : null;
      double r0 = order >= 2 ? (lambda(sig[i]) - lambda(sig[i - 1])) / h : 0;
      double r1 = order >= 3 ? (lambda(sig[i - 1]) - lambda(sig[i - 2])) / h : 0;
      double[] next = new double[n];
      for (int k = 0; k < n; k++) {
        double d0 = m0[k];
        double d1 = 0;
        double d2 = 0;
        if (order == 2) {
          d1 = (m0[k] - m1[k]) / r0;
        } else if (order == 3) {
          double d10 = (m0[k] - m1[k]) / r0;
          double d11 = (m1[k] - m2[k]) / r1;
          d1 = d10 + r0 / (r0 + r1) * (d10 - d11);
          d2 = (d10 - d11) / (r0 + r1);
        }
        if (c.algorithm().equals("dpmsolver++")) {
          next[k] = (sigmaT / sigmaS0) * x[k] - (alphaT * (Math.exp(-h) - 1.0)) * d0;
          if (order == 2) {
            next[k] -= 0.5 * (alphaT * (Math.exp(-h) - 1.0)) * d1;
          } else if (order == 3) {
            next[k] +=
                (alphaT * ((Math.exp(-h) - 1.0) / h + 1.0)) * d1
                    - (alphaT * ((Math.exp(-h) - 1.0 + h) / (h * h) - 0.5)) * d2;
          }
        } else if (c.algorithm().equals("dpmsolver")) {
          next[k] = (alphaT / alphaS0) * x[k] - (sigmaT * (Math.exp(h) - 1.0)) * d0;
          if (order == 2) {
            next[k] -= 0.5 * (sigmaT * (Math.exp(h) - 1.0)) * d1;
          } else if (order == 3) {
            next[k] -=
                (sigmaT * ((Math.exp(h) - 1.0) / h - 1.0)) * d1
                    + (sigmaT * ((Math.exp(h) - 1.0 - h) / (h * h) - 0.5)) * d2;
          }
        } else {
          next[k] =
              (sigmaT / sigmaS0 * Math.exp(-h)) * x[k]
                  + (alphaT * (1 - Math.exp(-2.0 * h))) * d0
                  + sigmaT * Math.sqrt(1.0 - Math.exp(-2 * h)) * z[k];
          if (order == 2) {
            next[k] += 0.5 * (alphaT * (1 - Math.exp(-2.0 * h))) * d1;
          } else if (order == 3) {
            next[k] +=
                (alphaT * ((1.0 - Math.exp(-2.0 * h)) / (-2.0 * h) + 1.0)) * d1
                    + (alphaT * ((1.0 - Math.exp(-2.0 * h) - 2.0 * h) / Math.pow(2.0 * h, 2) - 0.5))
                        * d2;
          }
        }
      }
      if (lowerOrderNums < c.order()) {
        lowerOrderNums++;
      }
      x = next;
    }
    return x;
  }

  /** The final sample of UniPCMultistepScheduler's loop from {@code start}. */
  public static double[] uniPc(double[] alphasCumprod, UniPcConfig c, double[] start) {
    Schedule s = schedule(alphasCumprod, c.steps(), c.sigmas(), c.finalSigmaZero(), true);
    double[] sig = s.sigmas();
    int steps = c.steps();
    double[] x = start.clone();
    List<double[]> outputs = new ArrayList<>();
    int lowerOrderNums = 0;
    double[] lastSample = null;
    int thisOrder = 0;
    for (int i = c.beginIndex(); i < steps; i++) {
      double[] converted = convert(c.prediction(), false, x, s.timesteps()[i], sig[i]);
      if (i > c.beginIndex() && lastSample != null) {
        x = corrector(c, sig, i, outputs, converted, lastSample, thisOrder);
      }
      outputs.add(converted);
      int order = c.lowerOrderFinal() ? Math.min(c.order(), steps - i) : c.order();
      thisOrder = Math.min(order, lowerOrderNums + 1);
      lastSample = x;
      x = predictor(c, sig, i, outputs, x, thisOrder);
      if (lowerOrderNums < c.order()) {
        lowerOrderNums++;
      }
    }
    return x;
  }

  /** rks, B(h), the b vector and h_phi_1 of the interval from σ[s0] to σ[s0 + 1]. */
  private record Interval(double h, double hPhi1, double bH, double[] b, double[] rks) {}

  private static Interval interval(UniPcConfig c, double[] sig, int s0, int order) {
    double h = lambda(sig[s0 + 1]) - lambda(sig[s0]);
    double[] rks = new double[order];
    for (int k = 1; k < order; k++) {
      rks[k - 1] = (lambda(sig[s0 - k]) - lambda(sig[s0])) / h;
    }
    rks[order - 1] = 1;
    double hh = -h;
    double hPhi1 = Math.expm1(hh);
    double hPhiK = hPhi1 / hh - 1;
    double factorial = 1;
    double bH = c.bh2() ? Math.expm1(hh) : hh;
    double[] b = new double[order];
    for (int k = 1; k <= order; k++) {
      b[k - 1] = hPhiK * factorial / bH;
      factorial *= k + 1;
      hPhiK = hPhiK / hh - 1 / factorial;
    }
    return new Interval(h, hPhi1, bH, b, rks);
  }

  /** R[k][j] = rks[j]^k for k, j below {@code size}; solves R ρ = b. */
  private static double[] solve(double[] rks, double[] b, int size) {
    double[][] a = new double[size][size + 1];
    for (int k = 0; k < size; k++) {
      for (int j = 0; j < size; j++) {
        a[k][j] = Math.pow(rks[j], k);
      }
      a[k][size] = b[k];
    }
    for (int p = 0; p < size; p++) {
      int best = p;
      for (int r = p + 1; r < size; r++) {
        if (Math.abs(a[r][p]) > Math.abs(a[best][p])) {
          best = r;
        }
      }
      double[] tmp = a[p];
      a[p] = a[best];
      a[best] = tmp;
      for (int r = 0; r < size; r++) {
        if (r != p) {
          double f = a[r][p] / a[p][p];
          for (int j = p; j <= size; j++) {
            a[r][j] -= f * a[p][j];
          }
        }
      }
    }
    double[] out = new double[size];
    for (int k = 0; k < size; k++) {
      out[k] = a[k][size] / a[k][k];
    }
    return out;
  }

  private static double[] predictor(
      UniPcConfig c, double[] sig, int i, List<double[]> outputs, double[] x, int order) {
    Interval v = interval(c, sig, i, order);
    double alphaT = alpha(sig[i + 1]);
    double sigmaT = sig[i + 1] * alphaT;
    double sigmaS0 = sig[i] * alpha(sig[i]);
    double[] m0 = outputs.get(outputs.size() - 1);
    double[] rhos = null;
    if (order == 2) {
      rhos = new double[] {0.5};
    } else if (order > 2) {
      rhos = solve(v.rks(), v.b(), order - 1);
    }
    double[] out = new double[x.length];
    for (int k = 0; k < x.length; k++) {
      double res = 0;
      for (int j = 1; j < order; j++) {
        double mi = outputs.get(outputs.size() - 1 - j)[k];
        res += rhos[j - 1] * (mi - m0[k]) / v.rks()[j - 1];
      }
      out[k] = sigmaT / sigmaS0 * x[k] - alphaT * v.hPhi1() * m0[k];
      if (order > 1) {
        // diffusers multiplies B(h) by pred_res = 0 at first order: NaN where B(h) = -∞ (bh1
        // onto σ = 0); the term is 0
        out[k] -= alphaT * v.bH() * res;
      }
    }
    return out;
  }

  private static double[] corrector(
      UniPcConfig c,
      double[] sig,
      int i,
      List<double[]> outputs,
      double[] modelT,
      double[] last,
      int order) {
    Interval v = interval(c, sig, i - 1, order);
    double alphaT = alpha(sig[i]);
    double sigmaT = sig[i] * alphaT;
    double sigmaS0 = sig[i - 1] * alpha(sig[i - 1]);
    double[] m0 = outputs.get(outputs.size() - 1);
    double[] rhos = order == 1 ? new double[] {0.5} : solve(v.rks(), v.b(), order);
    double[] out = new double[last.length];
    for (int k = 0; k < last.length; k++) {
      double res = 0;
      for (int j = 1; j < order; j++) {
        double mi = outputs.get(outputs.size() - 1 - j)[k];
        res += rhos[j - 1] * (mi - m0[k]) / v.rks()[j - 1];
      }
      double d1t = modelT[k] - m0[k];
      out[k] =
          sigmaT / sigmaS0 * last[k]
              - alphaT * v.hPhi1() * m0[k]
              - alphaT * v.bH() * (res + rhos[rhos.length - 1] * d1t);
    }
    return out;
  }
}
