package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.Coefficient;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * DPM-Solver++ (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
 * Probabilistic Models", Algorithm 2: the multistep second-order solver in data prediction, and its
 * third-order multistep form, "3M"), with the conventions of diffusers' {@code
 * DPMSolverMultistepScheduler} ({@code algorithm_type="dpmsolver++"} or {@code "sde-dpmsolver++"},
 * {@code solver_type="midpoint"}, {@code solver_order} 1-3).
 *
 * <pre>
 *   σ(t) = √((1 - ᾱ_t) / ᾱ_t);  α_t = 1/√(σ² + 1), σ_t = σ α_t;  λ_t = log α_t - log σ_t
 *   step from s0 to t, h = λ_t - λ_{s0}; m0 = x̂_0(s0), m1, m2 the x̂_0 of the two steps before:
 *   1st order:  x_t = (σ_t/σ_{s0}) x - α_t (e^{-h} - 1) m0
 *   2nd order:  r0 = (λ_{s0} - λ_{s1}) / h,  D1 = (m0 - m1) / r0
 *               x_t = (σ_t/σ_{s0}) x - α_t (e^{-h} - 1) m0 - ½ α_t (e^{-h} - 1) D1
 *   3rd order:  r1 = (λ_{s1} - λ_{s2}) / h,  D1_0 = (m0 - m1) / r0,  D1_1 = (m1 - m2) / r1
 *               D1 = D1_0 + r0/(r0 + r1) (D1_0 - D1_1),  D2 = (D1_0 - D1_1) / (r0 + r1)
 *               x_t = (σ_t/σ_{s0}) x - α_t (e^{-h} - 1) m0 + α_t ((e^{-h} - 1)/h + 1) D1
 *                     - α_t ((e^{-h} - 1 + h)/h² - ½) D2
 *   SDE variant (Lu et al. 2022, section 5; diffusers' sde-dpmsolver++), z ~ N(0, I):
 *   1st order:  x_t = (σ_t/σ_{s0}) e^{-h} x + α_t (1 - e^{-2h}) m0 + σ_t √(1 - e^{-2h}) z
 *   2nd order:  the same + ½ α_t (1 - e^{-2h}) D1
 *   3rd order:  the 1st order + α_t ((1 - e^{-2h})/(-2h) + 1) D1
 *                             + α_t ((1 - e^{-2h} - 2h)/(2h)² - ½) D2
 * </pre>
 *
 * The first step is first order and the second at most second order; the last one is first order
 * when {@code eulerAtFinal} holds, when {@code lowerOrderFinal} holds and N &lt; 15, or always when
 * the final σ is 0, and the last but one at most second order when {@code lowerOrderFinal} holds
 * and N &lt; 15 (diffusers' rules). Timesteps: N + 1 points of the spacing with the last dropped
 * (diffusers); the σ are those of the timesteps, or Karras or exponential (Lu's λ) σ between σ(T -
 * 1) and σ(0) with the timesteps rounded to the nearest (see {@link SigmaSpacing}); the final σ is
 * 0 ({@link FinalSigma#ZERO}, the result is x̂_0 of the last step) or σ(0).
 *
 * @param steps N model evaluations (10-25 is the intended range)
 * @param order 1 (DDIM-like), 2 (default) or 3
 * @param spacing diffusers' timestep_spacing (default linspace)
 * @param stepsOffset added by leading spacing
 * @param lowerOrderFinal use first order at the last step (and at most second order at the one
 *     before) for N &lt; 15 (default true)
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
    checkArgument(order >= 1 && order <= 3, "DPM-Solver++ order must be 1, 2 or 3, got %s", order);
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

  /**
   * The model's timesteps, their ᾱ and the N + 1 σ of the steps (the last the final σ), shared with
   * {@link DpmSolverSampler}.
   */
  record Levels(int[] timesteps, double[] alphaBars, double[] sigmas) {
    /** α = 1/√(σ² + 1) at step i (σ_i's signal scale). */
    double alpha(int i) {
      return DpmSolverPlusPlusSampler.alpha(sigmas[i]);
    }

    /** σ_t = σ α at step i (the noise scale). */
    double noise(int i) {
      return sigmas[i] * alpha(i);
    }

    /** λ = log α - log σ_t = -log σ at step i. */
    double lambda(int i) {
      return DpmSolverPlusPlusSampler.lambda(sigmas[i]);
    }
  }

  /** The timesteps and σ of N steps of this spacing on {@code schedule}. */
  static Levels levels(
      NoiseSchedule schedule,
      int steps,
      TimestepSpacing spacing,
      int stepsOffset,
      SigmaSpacing sigmaSpacing,
      FinalSigma finalSigma) {
    int[] ts =
        new DpmSolverPlusPlusSampler(steps, 1, spacing, stepsOffset, true, finalSigma)
            .timesteps(schedule.timesteps());
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
    return new Levels(ts, alphaBars, sigmas);
  }

  /**
   * The order of step i by diffusers' rules: first at the first step, second at the second, and
   * lower at the end: first at the last step when {@code eulerAtFinal}, when {@code
   * lowerOrderFinal} and N &lt; 15, or when the final σ is 0; at most second at the last but one
   * when {@code lowerOrderFinal} and N &lt; 15.
   */
  static int orderAt(
      int i,
      int steps,
      int order,
      boolean lowerOrderFinal,
      boolean eulerAtFinal,
      FinalSigma finalSigma) {
    boolean fewSteps = lowerOrderFinal && steps < LOWER_ORDER_FINAL_BELOW;
    if (i == steps - 1 && (eulerAtFinal || fewSteps || finalSigma == FinalSigma.ZERO)) {
      return 1;
    }
    if (i == steps - 2 && fewSteps) {
      return Math.min(order, Math.min(i + 1, 2));
    }
    return Math.min(order, i + 1);
  }

  /**
   * The multistep coefficients {d, e} of a step written {@code k1 D1 + k2 D2} in diffusers' third
   * order form, with D1_0 = (m0 - m1)/r0, D1_1 = (m1 - m2)/r1, D1 = D1_0 + r0/(r0 + r1) (D1_0 -
   * D1_1), D2 = (D1_0 - D1_1)/(r0 + r1): the result is {@code d (m0 - m1) + e (m1 - m2)}.
   */
  static double[] thirdOrderTerms(double k1, double k2, double r0, double r1) {
    double onD10 = k1 * (1 + r0 / (r0 + r1)) + k2 / (r0 + r1);
    double onD11 = -k1 * r0 / (r0 + r1) - k2 / (r0 + r1);
    return new double[] {onD10 / r0, onD11 / r1};
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    Levels levels = levels(schedule, steps, spacing, stepsOffset, sigmaSpacing, finalSigma);
    double[] sigmas = levels.sigmas();
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    for (int i = 0; i < steps; i++) {
      double sigmaS0 = levels.noise(i);
      double alphaT = levels.alpha(i + 1);
      double sigmaT = levels.noise(i + 1);
      // e^{-h} = e^{-(λ_t - λ_s0)} = (σ_t/α_t) / (σ_s0/α_s0) = σ(t) / σ(s0); 0 when σ(t) = 0
      double expMinusH = sigmas[i + 1] / sigmas[i];
      double a;
      double b;
      double s = 0;
      // 1 - e^{-2h}, 0 where h rounds below 0 (a Karras σ_min step onto the final σ_min)
      double oneMinusExpMinus2h = Math.max(1 - expMinusH * expMinusH, 0);
      if (sde) {
        a = sigmaT / sigmaS0 * expMinusH;
        b = alphaT * oneMinusExpMinus2h;
        s = sigmaT * Math.sqrt(oneMinusExpMinus2h);
      } else {
        a = sigmaT / sigmaS0;
        b = -alphaT * (expMinusH - 1);
      }
      // a step onto its own σ (Karras σ_min onto the final σ_min) is the identity: first order
      int orderHere =
          sigmas[i + 1] == sigmas[i]
              ? 1
              : orderAt(i, steps, order, lowerOrderFinal, eulerAtFinal, finalSigma);
      double d = 0;
      double e = 0;
      double restart = 0;
      if (orderHere >= 2) {
        double h = levels.lambda(i + 1) - levels.lambda(i);
        double r0 = (levels.lambda(i) - levels.lambda(i - 1)) / h;
        // ½ b D1 with D1 = (m0 - m1) / r0, for both variants
        restart = 0.5 * b / r0;
        d = restart;
        if (orderHere == 3) {
          double r1 = (levels.lambda(i - 1) - levels.lambda(i - 2)) / h;
          double k1;
          double k2;
          if (sde) {
            // α_t ((1 - e^{-2h}) / (-2h) + 1),  α_t ((1 - e^{-2h} - 2h) / (2h)² - ½)
            k1 = alphaT * (oneMinusExpMinus2h / (-2 * h) + 1);
            k2 = alphaT * ((oneMinusExpMinus2h - 2 * h) / (4 * h * h) - 0.5);
          } else {
            // α_t ((e^{-h} - 1) / h + 1),  -α_t ((e^{-h} - 1 + h) / h² - ½)
            double expm1 = Math.expm1(-h);
            k1 = alphaT * (expm1 / h + 1);
            k2 = -alphaT * ((expm1 + h) / (h * h) - 0.5);
          }
          double[] terms = thirdOrderTerms(k1, k2, r0, r1);
          d = terms[0];
          e = terms[1];
        }
      }
      plan.step(levels.timesteps()[i], levels.alphaBars()[i], a, b, 0, d, s).history(e, restart);
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
  static double sigma(double alphaBar) {
    return Math.sqrt((1 - alphaBar) / alphaBar);
  }

  static double alpha(double sigma) {
    return 1 / Math.sqrt(sigma * sigma + 1);
  }

  /** λ = log α_t - log σ_t = -log σ. */
  static double lambda(double sigma) {
    return -Math.log(sigma);
  }
}
