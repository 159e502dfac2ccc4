package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.Coefficient;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * DPM-Solver++ (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
 * Probabilistic Models", Algorithm 2: the multistep second-order solver in data prediction), with
 * the conventions of diffusers' {@code DPMSolverMultistepScheduler} ({@code
 * algorithm_type="dpmsolver++"}, {@code solver_type="midpoint"}).
 *
 * <pre>
 *   σ(t) = √((1 - ᾱ_t) / ᾱ_t);  α_t = 1/√(σ² + 1), σ_t = σ α_t;  λ_t = log α_t - log σ_t
 *   step from s0 to t, h = λ_t - λ_{s0}, m0 = x̂_0(s0), m1 = x̂_0(s1) of the previous step:
 *   1st order:  x_t = (σ_t/σ_{s0}) x - α_t (e^{-h} - 1) m0
 *   2nd order:  r0 = (λ_{s0} - λ_{s1}) / h,  D1 = (m0 - m1) / r0
 *               x_t = (σ_t/σ_{s0}) x - α_t (e^{-h} - 1) m0 - ½ α_t (e^{-h} - 1) D1
 * </pre>
 *
 * The first step is first order; so is the last one when {@code lowerOrderFinal} holds and N &lt;
 * 15, or always when the final σ is 0 (diffusers' rules). Timesteps: N + 1 points of the spacing
 * with the last dropped (diffusers); the final σ is 0 ({@link FinalSigma#ZERO}, the result is x̂_0
 * of the last step) or σ(0).
 *
 * @param steps N model evaluations (10-25 is the intended range)
 * @param order 1 (DDIM-like) or 2 (default)
 * @param spacing diffusers' timestep_spacing (default linspace)
 * @param stepsOffset added by leading spacing
 * @param lowerOrderFinal use first order at the last step for N &lt; 15 (default true)
 * @param finalSigma σ after the last step
 * @param x0Guard what is done to each x̂_0 before the solver uses it (diffusers' thresholding;
 *     default none)
 */
public record DpmSolverPlusPlusSampler(
    int steps,
    int order,
    TimestepSpacing spacing,
    int stepsOffset,
    boolean lowerOrderFinal,
    FinalSigma finalSigma,
    X0Guard x0Guard)
    implements Sampler {

  /** σ after the last step (diffusers' final_sigmas_type). */
  public enum FinalSigma {
    /** σ = 0: the sample is the last x̂_0 ("zero", the default). */
    ZERO,
    /** σ = σ(t = 0) ("sigma_min"). */
    SIGMA_MIN
  }

  /** diffusers uses first order at the end only below this many steps (unless σ_final = 0). */
  public static final int LOWER_ORDER_FINAL_BELOW = 15;

  public DpmSolverPlusPlusSampler {
    checkArgument(steps >= 1, "DPM-Solver++ needs at least 1 step, got %s", steps);
    checkArgument(order == 1 || order == 2, "DPM-Solver++ order must be 1 or 2, got %s", order);
    checkArgument(
        spacing != null, "timestep spacing is null; valid: %s", TimestepSpacing.validNames());
    checkArgument(stepsOffset >= 0, "steps offset must be >= 0, got %s", stepsOffset);
    checkArgument(finalSigma != null, "final sigma is null");
    checkArgument(x0Guard != null, "x0 guard is null");
  }

  /** The solver with x̂_0 unguarded. */
  public DpmSolverPlusPlusSampler(
      int steps,
      int order,
      TimestepSpacing spacing,
      int stepsOffset,
      boolean lowerOrderFinal,
      FinalSigma finalSigma) {
    this(steps, order, spacing, stepsOffset, lowerOrderFinal, finalSigma, X0Guard.none());
  }

  /** diffusers' defaults: second order, linspace spacing, lower-order final, final σ = 0. */
  public static DpmSolverPlusPlusSampler of(int steps) {
    return new DpmSolverPlusPlusSampler(
        steps, 2, TimestepSpacing.LINSPACE, 0, true, FinalSigma.ZERO);
  }

  /** diffusers' DPMSolverMultistepScheduler.set_timesteps, descending, N entries. */
  int[] timesteps(int trainSteps) {
    checkArgument(
        steps <= trainSteps,
        "DPM-Solver++ steps (%s) must be at most the training timesteps (%s)",
        steps,
        trainSteps);
    int[] out = new int[steps];
    switch (spacing) {
      case LINSPACE -> {
        // np.linspace(0, T - 1, N + 1).round()[::-1][:-1]
        double[] points = TimestepSpacing.numpyLinspace(trainSteps - 1, steps + 1);
        for (int i = 0; i < steps; i++) {
          out[i] = (int) Math.rint(points[steps - i]); // the ascending N + 1 points, skipping 0
        }
      }
      case LEADING -> {
        // (np.arange(0, N + 1) * (T // (N + 1))).round()[::-1][:-1] + steps_offset
        int ratio = trainSteps / (steps + 1);
        for (int i = 0; i < steps; i++) {
          out[i] = (steps - i) * ratio + stepsOffset;
        }
      }
      case TRAILING -> {
        // np.arange(T, 0, -T / N).round() - 1
        double[] points =
            TimestepSpacing.numpyArange(trainSteps, -trainSteps / (double) steps, steps);
        for (int i = 0; i < steps; i++) {
          out[i] = (int) Math.rint(points[i]) - 1;
        }
      }
    }
    for (int t : out) {
      checkArgument(t >= 0 && t < trainSteps, "timestep %s outside [0, %s)", t, trainSteps);
    }
    return out;
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    int[] ts = timesteps(schedule.timesteps());
    double[] sigmas = new double[steps + 1];
    for (int i = 0; i < steps; i++) {
      sigmas[i] = sigma(schedule.get(Coefficient.ALPHAS_CUMPROD, ts[i]));
    }
    sigmas[steps] =
        finalSigma == FinalSigma.ZERO ? 0 : sigma(schedule.get(Coefficient.ALPHAS_CUMPROD, 0));
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    for (int i = 0; i < steps; i++) {
      double alphaS0 = alpha(sigmas[i]);
      double sigmaS0 = sigmas[i] * alphaS0;
      double alphaT = alpha(sigmas[i + 1]);
      double sigmaT = sigmas[i + 1] * alphaT;
      // e^{-h} = e^{-(λ_t - λ_s0)} = (σ_t/α_t) / (σ_s0/α_s0) = σ(t) / σ(s0); 0 when σ(t) = 0
      double expMinusH = sigmas[i + 1] / sigmas[i];
      double a = sigmaT / sigmaS0;
      double b = -alphaT * (expMinusH - 1);
      boolean last = i == steps - 1;
      boolean lowerFinal =
          last
              && ((lowerOrderFinal && steps < LOWER_ORDER_FINAL_BELOW)
                  || finalSigma == FinalSigma.ZERO);
      double d = 0;
      if (order == 2 && i > 0 && !lowerFinal) {
        double h = lambda(sigmas[i + 1]) - lambda(sigmas[i]);
        double h0 = lambda(sigmas[i]) - lambda(sigmas[i - 1]);
        double r0 = h0 / h;
        d = -0.5 * alphaT * (expMinusH - 1) / r0;
      }
      plan.step(ts[i], schedule.get(Coefficient.ALPHAS_CUMPROD, ts[i]), a, b, 0, d, 0);
    }
    String name =
        String.format(
            "dpm-solver++(steps=%d, order=%d, spacing=%s%s, final_sigma=%s%s)",
            steps,
            order,
            spacing.configName(),
            stepsOffset > 0 ? ", offset=" + stepsOffset : "",
            finalSigma.name().toLowerCase(java.util.Locale.ROOT),
            x0Guard.active() ? ", x0=" + x0Guard : "");
    return plan.build(name, x0Guard, prediction);
  }

  /** σ = √((1 - ᾱ)/ᾱ), the noise-to-signal ratio. */
  private static double sigma(double alphaBar) {
    return Math.sqrt((1 - alphaBar) / alphaBar);
  }

  private static double alpha(double sigma) {
    return 1 / Math.sqrt(sigma * sigma + 1);
  }

  /** λ = log α_t - log σ_t = -log σ. */
  private static double lambda(double sigma) {
    return -Math.log(sigma);
  }
}
