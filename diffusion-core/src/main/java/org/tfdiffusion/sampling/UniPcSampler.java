package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.FinalSigma;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.Levels;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
 * Diffusion Models"): a multistep predictor (UniP) whose result is corrected (UniC) once the model
 * has been evaluated there, the correction reusing that evaluation, so each step costs one model
 * evaluation. Data prediction ({@code predict_x0=True}) with the conventions of diffusers' {@code
 * UniPCMultistepScheduler}, {@code solver_type} "bh1" or "bh2", {@code solver_order} 1 or 2.
 *
 * <pre>
 *   σ(t) = √((1 - ᾱ_t) / ᾱ_t);  α_t = 1/√(σ² + 1), σ_t = σ α_t;  λ_t = log α_t - log σ_t
 *   interval s0 → t:  h = λ_t - λ_{s0},  hh = -h,  h φ_1 = e^{hh} - 1
 *                     B(h) = hh (bh1) or e^{hh} - 1 (bh2)
 *                     g_1 = h φ_1 / hh - 1,  g_{k+1} = g_k / hh - 1/(k+1)!,  b_k = g_k k! / B(h)
 *   m_j = x̂_0 at step j;  r = (λ_{s1} - λ_{s0}) / h;  D = (m_{s1} - m_{s0}) / r
 *   UniP, order 1:  x_t = (σ_t/σ_{s0}) x_{s0} - α_t h φ_1 m_{s0}
 *   UniP, order 2:  the same - α_t B(h) ½ D
 *   UniC at x_t after the model's m_t there, with the order p of the predictor that led to it:
 *     p = 1:  x_t^c = (σ_t/σ_{s0}) x_{s0} - α_t h φ_1 m_{s0} - α_t B(h) ½ (m_t - m_{s0})
 *     p = 2:  [ρ_1, ρ_t] solves [[1, 1], [r, 1]] ρ = [b_1, b_2]
 *             x_t^c = (σ_t/σ_{s0}) x_{s0} - α_t h φ_1 m_{s0} - α_t B(h) (ρ_1 D + ρ_t (m_t - m_{s0}))
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
 * so in {@link SamplingPlan}'s terms d = a u + d^P and e = a v. Orders: the predictor's is 1 at the
 * first step and, with {@code lowerOrderFinal} (default) or a final σ of 0, at the last; the first
 * step has no correction. A first-order predictor onto σ = 0 gives x̂_0 for both variants
 * (diffusers' bh1 multiplies B(h) = -∞ by a zero term there, which makes NaN). The x̂_0 guard acts
 * on each m before anything uses it (diffusers' thresholding).
 *
 * @param steps N model evaluations
 * @param order the predictor's order: 1 or 2 (default)
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
  public enum Variant {
    /** B(h) = -h (hh): recommended by the paper below 10 steps. */
    BH1("bh1"),
    /** B(h) = e^{-h} - 1 (the default). */
    BH2("bh2");

    private final String configName;

    Variant(String configName) {
      this.configName = configName;
    }

    public String configName() {
      return configName;
    }

    /**
     * Finds a variant by name.
     *
     * @throws IllegalArgumentException listing the valid names
     */
    public static Variant lookup(String name) {
      checkArgument(name != null, "UniPC variant is null; valid: %s", validNames());
      String key = name.trim().toLowerCase(Locale.ROOT);
      for (Variant v : values()) {
        if (v.configName.equals(key)) {
          return v;
        }
      }
      throw new IllegalArgumentException(
          "unknown UniPC variant '" + name + "'; valid: " + validNames());
    }

    public static String validNames() {
      return Arrays.stream(values()).map(Variant::configName).collect(Collectors.joining(", "));
    }
  }

  public UniPcSampler {
    checkArgument(steps >= 1, "UniPC needs at least 1 step, got %s", steps);
    checkArgument(order == 1 || order == 2, "UniPC order must be 1 or 2, got %s", order);
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

  /** The predictor's order at step i (the corrector at step i + 1 takes the same). */
  private int orderAt(int i, double[] sigmas) {
    boolean last = i == steps - 1;
    if (i == 0
        || (last && (lowerOrderFinal || finalSigma == FinalSigma.ZERO))
        || sigmas[i + 1] == sigmas[i]) {
      return 1;
    }
    return order;
  }

  /** The quantities of the interval from step j to step j + 1. */
  private record Interval(double alphaT, double bH, double b1, double b2, double h) {}

  private Interval interval(Levels levels, int j) {
    double h = levels.lambda(j + 1) - levels.lambda(j);
    double hh = -h;
    double hPhi1 = Math.expm1(hh);
    double bH = variant == Variant.BH2 ? Math.expm1(hh) : hh;
    double g1 = hPhi1 / hh - 1;
    double g2 = g1 / hh - 0.5;
    return new Interval(levels.alpha(j + 1), bH, g1 / bH, 2 * g2 / bH, h);
  }

  /** u and v of the correction at step i ≥ 1 after a predictor of order p at step i - 1. */
  private double[] correction(Levels levels, int i, int p) {
    Interval v = interval(levels, i - 1);
    if (p == 1) {
      return new double[] {-0.5 * v.alphaT() * v.bH(), 0};
    }
    double r = (levels.lambda(i - 2) - levels.lambda(i - 1)) / v.h();
    // [[1, 1], [r, 1]] ρ = [b_1, b_2]
    double rho1 = (v.b1() - v.b2()) / (1 - r);
    double rhoT = v.b1() - rho1;
    return new double[] {-v.alphaT() * v.bH() * rhoT, v.alphaT() * v.bH() * (rho1 - 0.5) / r};
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
      double sigmaT = levels.noise(i + 1);
      double a = sigmaT / sigmaS0;
      // -α_t h φ_1 = -α_t (e^{-h} - 1) = α_t (1 - σ(t)/σ(s0)); α_t when σ(t) = 0
      double b = alphaT * (1 - sigmas[i + 1] / sigmas[i]);
      int p = orderAt(i, sigmas);
      double predictorD = 0;
      double predictorRestart = 0;
      if (p == 2) {
        Interval v = interval(levels, i);
        double r = (levels.lambda(i - 1) - levels.lambda(i)) / v.h();
        // -α_t B ½ (m_{i-1} - m_i) / r
        predictorD = v.alphaT() * v.bH() * 0.5 / r;
        predictorRestart = predictorD;
      }
      double d = predictorD;
      double e = 0;
      double restart = predictorRestart;
      if (i >= 1) {
        double[] uv = correction(levels, i, orderAt(i - 1, sigmas));
        d += a * uv[0];
        e = a * uv[1];
        // after a restart the step before was first order: its correction is too
        restart += a * correction(levels, i, 1)[0];
      }
      plan.step(levels.timesteps()[i], levels.alphaBars()[i], a, b, 0, d, 0).history(e, restart);
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
