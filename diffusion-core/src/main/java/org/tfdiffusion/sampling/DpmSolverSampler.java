package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.FinalSigma;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.Levels;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * DPM-Solver (Lu et al. 2022, "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic Model
 * Sampling in Around 10 Steps"), the multistep solver in noise prediction, with the conventions of
 * diffusers' {@code DPMSolverMultistepScheduler} ({@code algorithm_type="dpmsolver"}, {@code
 * solver_type="midpoint"}, {@code solver_order} 1-3). Where {@link DpmSolverPlusPlusSampler}
 * integrates the model's x̂_0, this integrates its ε̂:
 *
 * <pre>
 *   σ(t) = √((1 - ᾱ_t) / ᾱ_t);  α_t = 1/√(σ² + 1), σ_t = σ α_t;  λ_t = log α_t - log σ_t
 *   step from s0 to t, h = λ_t - λ_{s0}; m0 = ε̂(s0), m1, m2 the ε̂ of the two steps before:
 *   1st order:  x_t = (α_t/α_{s0}) x - σ_t (e^h - 1) m0                      (DDIM)
 *   2nd order:  r0 = (λ_{s0} - λ_{s1}) / h,  D1 = (m0 - m1) / r0
 *               x_t = (α_t/α_{s0}) x - σ_t (e^h - 1) m0 - ½ σ_t (e^h - 1) D1
 *   3rd order:  r1 = (λ_{s1} - λ_{s2}) / h,  D1_0 = (m0 - m1) / r0,  D1_1 = (m1 - m2) / r1
 *               D1 = D1_0 + r0/(r0 + r1) (D1_0 - D1_1),  D2 = (D1_0 - D1_1) / (r0 + r1)
 *               x_t = (α_t/α_{s0}) x - σ_t (e^h - 1) m0 - σ_t ((e^h - 1)/h - 1) D1
 *                     - σ_t ((e^h - 1 - h)/h² - ½) D2
 * </pre>
 *
 * The orders of the steps follow diffusers' rules as in {@link DpmSolverPlusPlusSampler}. The final
 * σ is σ(0) (diffusers refuses {@code final_sigmas_type="zero"} for this algorithm: e^h is infinite
 * there). With an x̂_0 guard, ε̂ is derived again from the guarded x̂_0 (diffusers' thresholding
 * for this algorithm), {@code ε̂ = (x_t - α_t x̂_0) / σ_t}.
 *
 * @param steps N model evaluations
 * @param order 1, 2 (default) or 3
 * @param spacing diffusers' timestep_spacing (default linspace)
 * @param stepsOffset added by leading spacing
 * @param lowerOrderFinal first order at the last step, at most second at the one before, for N &lt;
 *     15 (default true)
 * @param eulerAtFinal first order at the last step whatever N (diffusers' euler_at_final)
 * @param sigmaSpacing the σ of the steps (diffusers' use_karras_sigmas, use_lu_lambdas)
 * @param x0Guard what is done to x̂_0 before ε̂ is derived from it (default none)
 */
public record DpmSolverSampler(
    int steps,
    int order,
    TimestepSpacing spacing,
    int stepsOffset,
    boolean lowerOrderFinal,
    boolean eulerAtFinal,
    SigmaSpacing sigmaSpacing,
    X0Guard x0Guard)
    implements Sampler {

  public DpmSolverSampler {
    checkArgument(steps >= 1, "DPM-Solver needs at least 1 step, got %s", steps);
    checkArgument(order >= 1 && order <= 3, "DPM-Solver order must be 1, 2 or 3, got %s", order);
    checkArgument(
        spacing != null, "timestep spacing is null; valid: %s", TimestepSpacing.validNames());
    checkArgument(stepsOffset >= 0, "steps offset must be >= 0, got %s", stepsOffset);
    checkArgument(
        sigmaSpacing != null, "sigma spacing is null; valid: %s", SigmaSpacing.validNames());
    checkArgument(x0Guard != null, "x0 guard is null");
  }

  /** diffusers' defaults: second order, linspace spacing, lower-order final, the timesteps' σ. */
  public static DpmSolverSampler of(int steps) {
    return new DpmSolverSampler(
        steps, 2, TimestepSpacing.LINSPACE, 0, true, false, SigmaSpacing.TIMESTEPS, X0Guard.none());
  }

  /** This solver at another order. */
  public DpmSolverSampler withOrder(int solverOrder) {
    return new DpmSolverSampler(
        steps,
        solverOrder,
        spacing,
        stepsOffset,
        lowerOrderFinal,
        eulerAtFinal,
        sigmaSpacing,
        x0Guard);
  }

  /** This solver with another x̂_0 guard. */
  public DpmSolverSampler withGuard(X0Guard guard) {
    return new DpmSolverSampler(
        steps, order, spacing, stepsOffset, lowerOrderFinal, eulerAtFinal, sigmaSpacing, guard);
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    Levels levels =
        DpmSolverPlusPlusSampler.levels(
            schedule, steps, spacing, stepsOffset, sigmaSpacing, FinalSigma.SIGMA_MIN);
    double[] sigmas = levels.sigmas();
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    for (int i = 0; i < steps; i++) {
      double alphaS0 = levels.alpha(i);
      double alphaT = levels.alpha(i + 1);
      double sigmaT = levels.noise(i + 1);
      double h = levels.lambda(i + 1) - levels.lambda(i);
      // e^h - 1
      double expm1 = Math.expm1(h);
      double a = alphaT / alphaS0;
      double c = -sigmaT * expm1;
      int orderHere =
          sigmas[i + 1] == sigmas[i]
              ? 1
              : DpmSolverPlusPlusSampler.orderAt(
                  i, steps, order, lowerOrderFinal, eulerAtFinal, FinalSigma.SIGMA_MIN);
      double d = 0;
      double e = 0;
      double restart = 0;
      if (orderHere >= 2) {
        double r0 = (levels.lambda(i) - levels.lambda(i - 1)) / h;
        // ½ c D1 with D1 = (m0 - m1) / r0
        restart = 0.5 * c / r0;
        d = restart;
        if (orderHere == 3) {
          double r1 = (levels.lambda(i - 1) - levels.lambda(i - 2)) / h;
          double k1 = -sigmaT * (expm1 / h - 1);
          double k2 = -sigmaT * ((expm1 - h) / (h * h) - 0.5);
          double[] terms = DpmSolverPlusPlusSampler.thirdOrderTerms(k1, k2, r0, r1);
          d = terms[0];
          e = terms[1];
        }
      }
      plan.step(levels.timesteps()[i], levels.alphaBars()[i], a, 0, c, d, 0).history(e, restart);
    }
    X0Guard guard = x0Guard.active() ? x0Guard.withRecomputeEps(true) : x0Guard;
    String name =
        String.format(
            "dpm-solver(steps=%d, order=%d, spacing=%s%s%s%s%s%s)",
            steps,
            order,
            spacing.configName(),
            stepsOffset > 0 ? ", offset=" + stepsOffset : "",
            lowerOrderFinal ? "" : ", no_lower_order_final",
            sigmaSpacing == SigmaSpacing.TIMESTEPS ? "" : ", sigmas=" + sigmaSpacing.configName(),
            eulerAtFinal ? ", euler_at_final" : "",
            guard.active() ? ", x0=" + guard : "");
    return plan.build(name, guard, prediction, SamplingPlan.History.EPS);
  }
}
