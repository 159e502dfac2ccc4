package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Locale;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.FinalSigma;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.Levels;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
 * Diffusion Models"): a multistep predictor (UniP) whose result is corrected (UniC) once the model
 * has been evaluated there, the correction reusing that evaluation, so each step costs one model
 * evaluation. Data prediction ({@code predict_x0=True}) with the conventions of diffusers' {@code
 * UniPCMultistepScheduler}, {@code solver_type} "bh1" or "bh2", {@code solver_order} 1-3.
 *
 * <pre>
 *   σ(t) = √((1 - ᾱ_t) / ᾱ_t);  α_t = 1/√(σ² + 1), σ_t = σ α_t;  λ_t = log α_t - log σ_t
 *   interval s0 → t:  h = λ_t - λ_{s0},  hh = -h,  h φ_1 = e^{hh} - 1
 *                     B(h) = hh (bh1) or e^{hh} - 1 (bh2)
 *                     g_1 = h φ_1 / hh - 1,  g_{k+1} = g_k / hh - 1/(k+1)!,  b_k = g_k k! / B(h)
 *   m_j = x̂_0 at step j;  r = (λ_{s1} - λ_{s0}) / h;  D = (m_{s1} - m_{s0}) / r
 *   UniP, order 1:  x_t = (σ_t/σ_{s0}) x_{s0} - α_t h φ_1 m_{s0}
 *   UniP, order 2:  the same - α_t B(h) ½ D
 *   UniP, order 3:  r_k, D_k = (m_{sk} - m_{s0}) / r_k for k = 1, 2;  [ρ_1, ρ_2] solves
 *                   [[1, 1], [r_1, r_2]] ρ = [b_1, b_2];  the same - α_t B(h) (ρ_1 D_1 + ρ_2 D_2)
 *   UniC at x_t after the model's m_t there, with the order p of the predictor that led to it:
 *     p = 1:  x_t^c = (σ_t/σ_{s0}) x_{s0} - α_t h φ_1 m_{s0} - α_t B(h) ½ (m_t - m_{s0})
 *     p = 2:  [ρ_1, ρ_t] solves [[1, 1], [r, 1]] ρ = [b_1, b_2]
 *             x_t^c = (σ_t/σ_{s0}) x_{s0} - α_t h φ_1 m_{s0} - α_t B(h) (ρ_1 D + ρ_t (m_t - m_{s0}))
 *     p = 3:  [ρ_1, ρ_2, ρ_t] solves R ρ = [b_1, b_2, b_3], R[k][j] = [r_1, r_2, 1]_j^k
 *             x_t^c = ... - α_t B(h) (ρ_1 D_1 + ρ_2 D_2 + ρ_t (m_t - m_{s0}))
 * </pre>
 *
 * x_{s0} above is the corrected sample of the step before, and the predictor continues from x_t^c.
 * The correction and the predictor share everything but their last terms, so step i (model output
 * m_i at x_i, the predictor's result) is one linear update of x_i and the last three m:
 *
 * <pre>
 *   x_i^c     = x_i + u_i (m_i - m_{i-1}) + v_i (m_{i-1} - m_{i-2})
 *               u_i = -α_i B ρ_t,  v_i = α_i B (ρ_1 - ½) / r     (p = 2, interval i-1 → i)
 *               u_i = -½ α_i B,    v_i = 0                        (p = 1)
 *   x_{i+1}   = a_i x_i^c + b_i m_i + d_i^P (m_i - m_{i-1}),  d_i^P = α_{i+1} B ½ / r (order 2)
 * </pre>
 *
 * so in {@link SamplingPlan}'s terms d = a u + d^P and e = a v; at order 3 the correction has a
 * term w (m_{i-2} - m_{i-3}) and the predictor one in (m_{i-1} - m_{i-2}), so f = a w and e gains
 * it. Orders: the predictor's is min(order, i + 1) while the history fills, min(order, N - i) with
 * {@code lowerOrderFinal} (default), 1 at the last step onto a final σ of 0; the first step has no
 * correction. A first-order predictor onto σ = 0 gives x̂_0 for both variants (diffusers' bh1
 * multiplies B(h) = -∞ by a zero term there, which makes NaN). The x̂_0 guard acts on each m before
 * anything uses it (diffusers' thresholding).
 *
 * @param steps N model evaluations
 * @param order the predictor's order: 1, 2 (default) or 3
 * @param variant B(h): bh1 or bh2 (default)
 * @param spacing diffusers' timestep_spacing (default linspace)
 * @param stepsOffset added by leading spacing
 * @param lowerOrderFinal first order at the last step (default true)
 * @param finalSigma σ after the last step (diffusers' final_sigmas_type, default zero)
 * @param sigmaSpacing the timesteps' own σ or Karras' (diffusers' use_karras_sigmas)
 * @param x0Guard what is done to each x̂_0 (default none)
 */
public record UniPcSampler(
    int steps,
    int order,
    Variant variant,
    TimestepSpacing spacing,
    int stepsOffset,
    boolean lowerOrderFinal,
    FinalSigma finalSigma,
    SigmaSpacing sigmaSpacing,
    X0Guard x0Guard)
    implements Sampler {

  /** B(h), diffusers' solver_type. */
  public enum Variant implements org.tfdiffusion.naming.Named {
    /** B(h) = -h (hh): recommended by the paper below 10 steps. */
    BH1("bh1"),
    /** B(h) = e^{-h} - 1 (the default). */
    BH2("bh2");

    private final String configName;

    Variant(String configName) {
      this.configName = configName;
    }

    @Override
    public String configName() {
      return configName;
    }

    @Override
    public java.util.List<String> names() {
      return java.util.List.of(configName);
    }

    /**
     * Finds a variant by name.
     *
     * @throws IllegalArgumentException listing the valid names
     */
    public static Variant lookup(String name) {
      return org.tfdiffusion.naming.Named.lookup(Variant.class, "UniPC variant", name);
    }

    public static String validNames() {
      return org.tfdiffusion.naming.Named.validNames(Variant.class);
    }
  }

  public UniPcSampler {
    checkArgument(steps >= 1, "UniPC needs at least 1 step, got %s", steps);
    checkArgument(order >= 1 && order <= 3, "UniPC order must be 1, 2 or 3, got %s", order);
    checkArgument(variant != null, "UniPC variant is null; valid: %s", Variant.validNames());
    checkArgument(
        spacing != null, "timestep spacing is null; valid: %s", TimestepSpacing.validNames());
    checkArgument(stepsOffset >= 0, "steps offset must be >= 0, got %s", stepsOffset);
    checkArgument(finalSigma != null, "final sigma is null");
    checkArgument(
        sigmaSpacing == SigmaSpacing.TIMESTEPS || sigmaSpacing == SigmaSpacing.KARRAS,
        "UniPC takes the timesteps' own sigmas or karras, got %s",
        sigmaSpacing);
    checkArgument(x0Guard != null, "x0 guard is null");
  }

  /** diffusers' defaults: order 2, bh2, linspace, lower-order final, final σ = 0. */
  public static UniPcSampler of(int steps) {
    return new UniPcSampler(
        steps,
        2,
        Variant.BH2,
        TimestepSpacing.LINSPACE,
        0,
        true,
        FinalSigma.ZERO,
        SigmaSpacing.TIMESTEPS,
        X0Guard.none());
  }

  /** This solver at another order. */
  public UniPcSampler withOrder(int solverOrder) {
    return new UniPcSampler(
        steps,
        solverOrder,
        variant,
        spacing,
        stepsOffset,
        lowerOrderFinal,
        finalSigma,
        sigmaSpacing,
        x0Guard);
  }

  /**
   * The predictor's order at step i (the corrector at step i + 1 takes the same): diffusers'
   * min(order, N - i) with {@code lowerOrderFinal}, and min(that, i + 1) while the history fills;
   * first order onto a final σ of 0 and where σ does not move.
   */
  private int orderAt(int i, double[] sigmas) {
    boolean last = i == steps - 1;
    if (last && finalSigma == FinalSigma.ZERO || sigmas[i + 1] == sigmas[i]) {
      return 1;
    }
    int p = lowerOrderFinal ? Math.min(order, steps - i) : order;
    return Math.min(p, i + 1);
  }

  /**
   * The quantities of the interval from step j to step j + 1: α_t, B(h), b_1..b_3 and r_1, r_2 (r_k
   * = (λ_{j-k} - λ_j) / h, where step j - k exists).
   */
  private record Interval(double alphaT, double bH, double[] b, double[] r) {}

  private Interval interval(Levels levels, int j) {
    double h = levels.lambda(j + 1) - levels.lambda(j);
    double hh = -h;
    double hPhi1 = Math.expm1(hh);
    double bH = variant == Variant.BH2 ? Math.expm1(hh) : hh;
    // g_1 = h φ_1 / hh - 1, g_{k+1} = g_k / hh - 1/(k+1)!;  b_k = g_k k! / B(h)
    double g1 = hPhi1 / hh - 1;
    double g2 = g1 / hh - 0.5;
    double g3 = g2 / hh - 1.0 / 6;
    double[] r = new double[Math.min(j, 2)];
    for (int k = 1; k <= r.length; k++) {
      r[k - 1] = (levels.lambda(j - k) - levels.lambda(j)) / h;
    }
    return new Interval(
        levels.alpha(j + 1), bH, new double[] {g1 / bH, 2 * g2 / bH, 6 * g3 / bH}, r);
  }

  /**
   * The predictor's ρ of order p (one per earlier output): ½ at order 2; at order 3 the solution of
   * [[1, 1], [r_1, r_2]] ρ = [b_1, b_2] (diffusers' rhos_p = solve(R[:-1, :-1], b[:-1])).
   */
  private static double[] predictorRhos(Interval v, int p) {
    return switch (p) {
      case 1 -> new double[0];
      case 2 -> new double[] {0.5};
      default -> solve2(1, 1, v.r()[0], v.r()[1], v.b()[0], v.b()[1]);
    };
  }

  /**
   * The corrector's ρ of order p, [ρ_1, ..., ρ_t]: [½] at order 1; otherwise the solution of R ρ =
   * b, R[k][j] = rks[j]^k with rks = [r_1, ..., r_{p-1}, 1].
   */
  private static double[] correctorRhos(Interval v, int p) {
    if (p == 1) {
      return new double[] {0.5};
    }
    if (p == 2) {
      return solve2(1, 1, v.r()[0], 1, v.b()[0], v.b()[1]);
    }
    double r1 = v.r()[0];
    double r2 = v.r()[1];
    // [[1, 1, 1], [r1, r2, 1], [r1², r2², 1]] ρ = b, by Cramer's rule
    double[][] m = {{1, 1, 1}, {r1, r2, 1}, {r1 * r1, r2 * r2, 1}};
    double det = det3(m);
    double[] rho = new double[3];
    for (int c = 0; c < 3; c++) {
      double[][] mc = new double[3][];
      for (int k = 0; k < 3; k++) {
        mc[k] = m[k].clone();
        mc[k][c] = v.b()[k];
      }
      rho[c] = det3(mc) / det;
    }
    return rho;
  }

  private static double[] solve2(double a, double b, double c, double d, double e, double f) {
    double det = a * d - b * c;
    return new double[] {(e * d - b * f) / det, (a * f - e * c) / det};
  }

  private static double det3(double[][] m) {
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  }

  /**
   * The predictor's terms at step i with order p, as coefficients of δ_1 = m_i - m_{i-1} and δ_2 =
   * m_{i-1} - m_{i-2}: -α B Σ_k ρ_k D_k with D_k = (m_{i-k} - m_i) / r_k = -(δ_1 + ... + δ_k) /
   * r_k, so δ_j's coefficient is α B Σ_{k ≥ j} ρ_k / r_k.
   */
  private double[] predictorTerms(Levels levels, int i, int p) {
    Interval v = interval(levels, i);
    double[] rho = predictorRhos(v, p);
    double[] terms = new double[2];
    for (int k = 1; k <= rho.length; k++) {
      double t = v.alphaT() * v.bH() * rho[k - 1] / v.r()[k - 1];
      for (int j = 1; j <= k; j++) {
        terms[j - 1] += t;
      }
    }
    return terms;
  }

  /**
   * The correction at step i ≥ 1 after a predictor of order p at step i - 1, as x_i^c - x_i = u δ_1
   * + v δ_2 + w δ_3 (δ_3 = m_{i-2} - m_{i-3}): the corrector and the predictor share x_t_ and
   * differ in -α B (Σ_k (ρ^c_k - ρ^P_k) D_k + ρ^c_t δ_1), with D_k = (m_{i-1-k} - m_{i-1}) / r_k =
   * -(δ_2 + ... + δ_{k+1}) / r_k.
   */
  private double[] correction(Levels levels, int i, int p) {
    Interval v = interval(levels, i - 1);
    double[] rhoC = correctorRhos(v, p);
    double[] rhoP = predictorRhos(v, p);
    double[] uvw = new double[3];
    uvw[0] = -v.alphaT() * v.bH() * rhoC[p - 1];
    for (int k = 1; k < p; k++) {
      double t = -v.alphaT() * v.bH() * (rhoP[k - 1] - rhoC[k - 1]) / v.r()[k - 1];
      for (int j = 2; j <= k + 1; j++) {
        uvw[j - 1] += t;
      }
    }
    return uvw;
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    Levels levels =
        DpmSolverPlusPlusSampler.levels(
            schedule, steps, spacing, stepsOffset, sigmaSpacing, finalSigma);
    double[] sigmas = levels.sigmas();
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    for (int i = 0; i < steps; i++) {
      double sigmaS0 = levels.noise(i);
      double alphaT = levels.alpha(i + 1);
      double a = levels.noise(i + 1) / sigmaS0;
      // -α_t h φ_1 = -α_t (e^{-h} - 1) = α_t (1 - σ(t)/σ(s0)); α_t when σ(t) = 0
      double b = alphaT * (1 - sigmas[i + 1] / sigmas[i]);
      int p = orderAt(i, sigmas);
      double[] predictor = predictorTerms(levels, i, p);
      double d = predictor[0];
      double e = predictor[1];
      double f = 0;
      // one earlier output known (a restart one step back): a first-order correction, the
      // predictor at most second order
      double restart = predictorTerms(levels, i, Math.min(p, 2))[0];
      // two earlier outputs known: the step before predicted at most at second order
      double restart2 = d;
      double restart2E = e;
      if (i >= 1) {
        int before = orderAt(i - 1, sigmas);
        double[] uvw = correction(levels, i, before);
        d += a * uvw[0];
        e += a * uvw[1];
        f = a * uvw[2];
        restart += a * correction(levels, i, 1)[0];
        double[] uvw2 = correction(levels, i, Math.min(before, 2));
        restart2 += a * uvw2[0];
        restart2E += a * uvw2[1];
      }
      plan.step(levels.timesteps()[i], levels.alphaBars()[i], a, b, 0, d, 0)
          .history(e, restart)
          .deepHistory(f, restart2, restart2E);
    }
    String name =
        String.format(
            "unipc(steps=%d, order=%d, variant=%s, spacing=%s%s, final_sigma=%s%s%s%s)",
            steps,
            order,
            variant.configName(),
            spacing.configName(),
            stepsOffset > 0 ? ", offset=" + stepsOffset : "",
            finalSigma.name().toLowerCase(Locale.ROOT),
            lowerOrderFinal ? "" : ", no_lower_order_final",
            sigmaSpacing == SigmaSpacing.TIMESTEPS ? "" : ", sigmas=" + sigmaSpacing.configName(),
            x0Guard.active() ? ", x0=" + x0Guard : "");
    return plan.build(name, x0Guard, prediction);
  }
}
