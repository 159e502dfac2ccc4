package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.FinalSigma;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.Levels;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * DEIS (Zhang &amp; Chen 2023, "Fast Sampling of Diffusion Models with Exponential Integrator"),
 * the multistep exponential integrator whose ε̂ are extrapolated by their Lagrange polynomial in
 * log ρ (ρ = σ/α, the noise-to-signal ratio), with the conventions of diffusers' {@code
 * DEISMultistepScheduler} ({@code algorithm_type="deis"}, {@code solver_type="logrho"}, {@code
 * solver_order} 1-3):
 *
 * <pre>
 *   σ(t) = √((1 - ᾱ_t) / ᾱ_t) = ρ;  α_t = 1/√(ρ² + 1), σ_t = ρ α_t;  m0, m1, m2 the ε̂ of the
 *   step and the two before, at ρ_{s0}, ρ_{s1}, ρ_{s2}; step from s0 to t:
 *   1st order:  x_t = (α_t/α_{s0}) x - σ_t (e^h - 1) m0,  h = λ_t - λ_{s0}     (DDIM)
 *   p-th order: ℓ_k(ρ) the Lagrange basis in log ρ on the p nodes ρ_{s0}, ..., ρ_{s(p-1)},
 *               coef_k = ∫_{ρ_{s0}}^{ρ_t} ℓ_k(ρ) dρ   (diffusers' ind_fn, closed form)
 *               x_t = α_t (x / α_{s0} + Σ_k coef_k m_k)
 *   2nd order:  ind(t, b, c) = t (log t - log c - 1) / (log b - log c)
 *               coef_0 = ind(ρ_t, ρ_{s0}, ρ_{s1}) - ind(ρ_{s0}, ρ_{s0}, ρ_{s1}), coef_1 likewise
 *   3rd order:  ind(t, b, c, d) = t (log c (log d - log t + 1) - log d log t + log d + log² t
 *                                      - 2 log t + 2) / ((log b - log c)(log b - log d))
 * </pre>
 *
 * As a plan step with history m = ε̂: a = α_t/α_{s0}, c = α_t Σ coef, d = -α_t (coef_1 + coef_2), e
 * = -α_t coef_2. The orders of the steps follow diffusers' rules as in {@link DpmSolverSampler}
 * (first order at the first step, at most second at the second; with {@code lowerOrderFinal} and
 * fewer than 15 steps, first order at the last step and at most second at the one before). The
 * final σ is σ(0), as diffusers' default {@code final_sigmas_type="sigma_min"}. With an x̂_0 guard,
 * ε̂ is derived again from the guarded x̂_0 before it enters the history (diffusers' thresholding
 * there: {@code convert_model_output} thresholds x̂_0, then returns (x - α x̂_0)/σ).
 *
 * @param steps N model evaluations
 * @param order 1, 2 (default) or 3
 * @param spacing diffusers' timestep_spacing (default linspace)
 * @param stepsOffset added by leading spacing
 * @param lowerOrderFinal lower orders at the last two steps for N &lt; 15 (default true)
 * @param sigmaSpacing the σ of the steps (diffusers' use_karras_sigmas, use_exponential_sigmas)
 * @param x0Guard what is done to x̂_0 before ε̂ is derived from it (default none)
 */
public record DeisSampler(
    int steps,
    int order,
    TimestepSpacing spacing,
    int stepsOffset,
    boolean lowerOrderFinal,
    SigmaSpacing sigmaSpacing,
    X0Guard x0Guard)
    implements Sampler {

  public DeisSampler {
    checkArgument(steps >= 1, "DEIS needs at least 1 step, got %s", steps);
    checkArgument(order >= 1 && order <= 3, "DEIS order must be 1, 2 or 3, got %s", order);
    checkArgument(
        spacing != null, "timestep spacing is null; valid: %s", TimestepSpacing.validNames());
    checkArgument(stepsOffset >= 0, "steps offset must be >= 0, got %s", stepsOffset);
    checkArgument(
        sigmaSpacing != null, "sigma spacing is null; valid: %s", SigmaSpacing.validNames());
    checkArgument(x0Guard != null, "x0 guard is null");
  }

  /** Without an x̂_0 guard. */
  public DeisSampler(
      int steps,
      int order,
      TimestepSpacing spacing,
      int stepsOffset,
      boolean lowerOrderFinal,
      SigmaSpacing sigmaSpacing) {
    this(steps, order, spacing, stepsOffset, lowerOrderFinal, sigmaSpacing, X0Guard.none());
  }

  /** diffusers' defaults: second order, linspace spacing, lower-order final, the timesteps' σ. */
  public static DeisSampler of(int steps) {
    return new DeisSampler(steps, 2, TimestepSpacing.LINSPACE, 0, true, SigmaSpacing.TIMESTEPS);
  }

  /** This solver at another order. */
  public DeisSampler withOrder(int solverOrder) {
    return new DeisSampler(
        steps, solverOrder, spacing, stepsOffset, lowerOrderFinal, sigmaSpacing, x0Guard);
  }

  /** This solver with another x̂_0 guard. */
  public DeisSampler withGuard(X0Guard guard) {
    return new DeisSampler(
        steps, order, spacing, stepsOffset, lowerOrderFinal, sigmaSpacing, guard);
  }

  /** Second-order ind_fn: ∫ (log τ - log c)/(log b - log c) dτ at t. */
  private static double ind(double t, double b, double c) {
    return t * (-Math.log(c) + Math.log(t) - 1) / (Math.log(b) - Math.log(c));
  }

  /** Third-order ind_fn: ∫ (log τ - log c)(log τ - log d)/((log b - log c)(log b - log d)) dτ. */
  private static double ind(double t, double b, double c, double d) {
    double lt = Math.log(t);
    double lc = Math.log(c);
    double ld = Math.log(d);
    double numerator = t * (lc * (ld - lt + 1) - ld * lt + ld + lt * lt - 2 * lt + 2);
    return numerator / ((Math.log(b) - lc) * (Math.log(b) - ld));
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    Levels levels =
        DpmSolverPlusPlusSampler.levels(
            schedule, steps, spacing, stepsOffset, sigmaSpacing, FinalSigma.SIGMA_MIN);
    double[] rho = levels.sigmas();
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    for (int i = 0; i < steps; i++) {
      double alphaS0 = levels.alpha(i);
      double alphaT = levels.alpha(i + 1);
      double a = alphaT / alphaS0;
      int orderHere =
          rho[i + 1] == rho[i]
              ? 1
              : DpmSolverPlusPlusSampler.orderAt(
                  i, steps, order, lowerOrderFinal, false, FinalSigma.SIGMA_MIN);
      double c;
      double d = 0;
      double e = 0;
      double restart = 0;
      if (orderHere == 1) {
        // x_t = (α_t/α_{s0}) x - σ_t (e^h - 1) m0
        double h = levels.lambda(i + 1) - levels.lambda(i);
        c = -levels.noise(i + 1) * Math.expm1(h);
      } else {
        double rt = rho[i + 1];
        double r0 = rho[i];
        double r1 = rho[i - 1];
        double coef0 = ind(rt, r0, r1) - ind(r0, r0, r1);
        double coef1 = ind(rt, r1, r0) - ind(r0, r1, r0);
        c = alphaT * (coef0 + coef1);
        d = -alphaT * coef1;
        restart = d;
        if (orderHere == 3) {
          double r2 = rho[i - 2];
          double k0 = ind(rt, r0, r1, r2) - ind(r0, r0, r1, r2);
          double k1 = ind(rt, r1, r2, r0) - ind(r0, r1, r2, r0);
          double k2 = ind(rt, r2, r0, r1) - ind(r0, r2, r0, r1);
          c = alphaT * (k0 + k1 + k2);
          d = -alphaT * (k1 + k2);
          e = -alphaT * k2;
        }
      }
      plan.step(levels.timesteps()[i], levels.alphaBars()[i], a, 0, c, d, 0).history(e, restart);
    }
    X0Guard guard = x0Guard.active() ? x0Guard.withRecomputeEps(true) : x0Guard;
    String name =
        String.format(
            "deis(steps=%d, order=%d, spacing=%s%s%s%s%s)",
            steps,
            order,
            spacing.configName(),
            stepsOffset > 0 ? ", offset=" + stepsOffset : "",
            lowerOrderFinal ? "" : ", no_lower_order_final",
            sigmaSpacing == SigmaSpacing.TIMESTEPS ? "" : ", sigmas=" + sigmaSpacing.configName(),
            guard.active() ? ", x0=" + guard : "");
    return plan.build(name, guard, prediction, SamplingPlan.History.EPS);
  }
}
