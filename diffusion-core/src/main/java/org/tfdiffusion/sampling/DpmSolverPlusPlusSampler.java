package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.Coefficient;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * DPM-Solver++ (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
 * Probabilistic Models", Algorithm 2: the multistep second-order solver in data prediction), with
 * the conventions of diffusers' {@code DPMSolverMultistepScheduler} ({@code
 * algorithm_type="dpmsolver++"} or {@code "sde-dpmsolver++"}, {@code solver_type="midpoint"}).
 *
 * <pre>
 *   σ(t) = √((1 - ᾱ_t) / ᾱ_t);  α_t = 1/√(σ² + 1), σ_t = σ α_t;  λ_t = log α_t - log σ_t
 *   step from s0 to t, h = λ_t - λ_{s0}, m0 = x̂_0(s0), m1 = x̂_0(s1) of the previous step:
 *   1st order:  x_t = (σ_t/σ_{s0}) x - α_t (e^{-h} - 1) m0
 *   2nd order:  r0 = (λ_{s0} - λ_{s1}) / h,  D1 = (m0 - m1) / r0
 *               x_t = (σ_t/σ_{s0}) x - α_t (e^{-h} - 1) m0 - ½ α_t (e^{-h} - 1) D1
 *   SDE variant (Lu et al. 2022, section 5; diffusers' sde-dpmsolver++), z ~ N(0, I):
 *   1st order:  x_t = (σ_t/σ_{s0}) e^{-h} x + α_t (1 - e^{-2h}) m0 + σ_t √(1 - e^{-2h}) z
 *   2nd order:  the same + ½ α_t (1 - e^{-2h}) D1
 * </pre>
 *
 * The first step is first order; so is the last one when {@code eulerAtFinal} holds, when {@code
 * lowerOrderFinal} holds and N &lt; 15, or always when the final σ is 0 (diffusers' rules).
 * Timesteps: N + 1 points of the spacing with the last dropped (diffusers); the σ are those of the
 * timesteps, or Karras or exponential (Lu's λ) σ between σ(T - 1) and σ(0) with the timesteps
 * rounded to the nearest (see {@link SigmaSpacing}); the final σ is 0 ({@link FinalSigma#ZERO}, the
 * result is x̂_0 of the last step) or σ(0).
 *
 * @param steps N model evaluations (10-25 is the intended range)
 * @param order 1 (DDIM-like) or 2 (default)
 * @param spacing diffusers' timestep_spacing (default linspace)
 * @param stepsOffset added by leading spacing
 * @param lowerOrderFinal use first order at the last step for N &lt; 15 (default true)
 * @param finalSigma σ after the last step
 * @param x0Guard what is done to each x̂_0 before the solver uses it (diffusers' thresholding;
 *     default none)
 * @param sigmaSpacing the σ of the steps (diffusers' use_karras_sigmas, use_lu_lambdas; default the
 *     timesteps' own)
 * @param eulerAtFinal use first order at the last step whatever N (diffusers' euler_at_final)
 * @param sde the stochastic variant (diffusers' algorithm_type "sde-dpmsolver++")
 */
public record DpmSolverPlusPlusSampler(
    int steps,
    int order,
    TimestepSpacing spacing,
    int stepsOffset,
    boolean lowerOrderFinal,
    FinalSigma finalSigma,
    X0Guard x0Guard,
    SigmaSpacing sigmaSpacing,
    boolean eulerAtFinal,
    boolean sde)
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
    checkArgument(
        sigmaSpacing != null, "sigma spacing is null; valid: %s", SigmaSpacing.validNames());
  }

  /** The ODE solver with the timesteps' own σ and diffusers' final-step rules. */
  public DpmSolverPlusPlusSampler(
      int steps,
      int order,
      TimestepSpacing spacing,
      int stepsOffset,
      boolean lowerOrderFinal,
      FinalSigma finalSigma,
      X0Guard x0Guard) {
    this(
        steps,
        order,
        spacing,
        stepsOffset,
        lowerOrderFinal,
        finalSigma,
        x0Guard,
        SigmaSpacing.TIMESTEPS,
        false,
        false);
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

  /** The SDE variant with diffusers' other defaults. */
  public static DpmSolverPlusPlusSampler sde(int steps) {
    return of(steps).withSde(true);
  }

  /** This solver with the given σ spacing. */
  public DpmSolverPlusPlusSampler withSigmaSpacing(SigmaSpacing spacing) {
    return new DpmSolverPlusPlusSampler(
        steps,
        order,
        this.spacing,
        stepsOffset,
        lowerOrderFinal,
        finalSigma,
        x0Guard,
        spacing,
        eulerAtFinal,
        sde);
  }

  /** This solver with diffusers' euler_at_final set or not. */
  public DpmSolverPlusPlusSampler withEulerAtFinal(boolean euler) {
    return new DpmSolverPlusPlusSampler(
        steps,
        order,
        spacing,
        stepsOffset,
        lowerOrderFinal,
        finalSigma,
        x0Guard,
        sigmaSpacing,
        euler,
        sde);
  }

  /** This solver as the SDE variant or the ODE one. */
  public DpmSolverPlusPlusSampler withSde(boolean stochastic) {
    return new DpmSolverPlusPlusSampler(
        steps,
        order,
        spacing,
        stepsOffset,
        lowerOrderFinal,
        finalSigma,
        x0Guard,
        sigmaSpacing,
        eulerAtFinal,
        stochastic);
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
    double[] alphaBars = new double[steps];
    double[] sigmas = new double[steps + 1];
    if (sigmaSpacing == SigmaSpacing.TIMESTEPS) {
      for (int i = 0; i < steps; i++) {
        alphaBars[i] = schedule.get(Coefficient.ALPHAS_CUMPROD, ts[i]);
        sigmas[i] = sigma(alphaBars[i]);
      }
    } else {
      // between σ(T - 1) and σ(0) of the training schedule, t rounded to the nearest timestep
      double sigmaMax = sigma(schedule.get(Coefficient.ALPHAS_CUMPROD, schedule.timesteps() - 1));
      double sigmaMin = sigma(schedule.get(Coefficient.ALPHAS_CUMPROD, 0));
      double[] levels = sigmaSpacing.sigmas(new double[steps], sigmaMax, sigmaMin);
      for (int i = 0; i < steps; i++) {
        sigmas[i] = levels[i];
        alphaBars[i] = SigmaSpacing.alphaBar(levels[i]);
        ts[i] = SigmaSpacing.timestepOf(levels[i], schedule);
      }
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
      double a;
      double b;
      double s = 0;
      if (sde) {
        // 1 - e^{-2h}, 0 where h rounds below 0 (a Karras σ_min step onto the final σ_min)
        double oneMinusExpMinus2h = Math.max(1 - expMinusH * expMinusH, 0);
        a = sigmaT / sigmaS0 * expMinusH;
        b = alphaT * oneMinusExpMinus2h;
        s = sigmaT * Math.sqrt(oneMinusExpMinus2h);
      } else {
        a = sigmaT / sigmaS0;
        b = -alphaT * (expMinusH - 1);
      }
      boolean last = i == steps - 1;
      boolean lowerFinal =
          last
              && (eulerAtFinal
                  || (lowerOrderFinal && steps < LOWER_ORDER_FINAL_BELOW)
                  || finalSigma == FinalSigma.ZERO);
      double d = 0;
      if (order == 2 && i > 0 && !lowerFinal) {
        double h = lambda(sigmas[i + 1]) - lambda(sigmas[i]);
        double h0 = lambda(sigmas[i]) - lambda(sigmas[i - 1]);
        double r0 = h0 / h;
        // ½ b D1 with D1 = (m0 - m1) / r0, for both variants
        d = 0.5 * b / r0;
      }
      plan.step(ts[i], alphaBars[i], a, b, 0, d, s);
    }
    String name =
        String.format(
            "%s(steps=%d, order=%d, spacing=%s%s, final_sigma=%s%s%s%s)",
            sde ? "sde-dpm-solver++" : "dpm-solver++",
            steps,
            order,
            spacing.configName(),
            stepsOffset > 0 ? ", offset=" + stepsOffset : "",
            finalSigma.name().toLowerCase(java.util.Locale.ROOT),
            sigmaSpacing == SigmaSpacing.TIMESTEPS ? "" : ", sigmas=" + sigmaSpacing.configName(),
            eulerAtFinal ? ", euler_at_final" : "",
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
