package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * The linear multistep method on the probability-flow ODE in σ (Karras et al. 2022, "Elucidating
 * the Design Space of Diffusion-Based Generative Models", whose k-diffusion {@code sample_lms} it
 * is), with the conventions of diffusers' {@code LMSDiscreteScheduler} (its {@code step(order=4)}):
 * the derivatives of up to the last p steps are extrapolated by their Lagrange polynomial in σ,
 * which is integrated exactly over the step.
 *
 * <pre>
 *   notation: x̂_0 → pred_original_sample, d_j → derivatives[j], σ_i → sigmas[i], L_k → lms_coeffs[k]
 *   the ODE in x^σ = x_t / √ᾱ_t = x_0 + σ ε:   dx^σ/dσ = (x^σ - x̂_0) / σ = ε̂
 *   1. σ_i, σ_{i+1} from the spacing (σ_N = 0), ᾱ_i = 1 / (1 + σ_i²)
 *   2. d_i = ε̂ of the model output at (x_i, t_i)
 *   3. p = min(i + 1, order), the Lagrange basis on the nodes σ_i, σ_{i-1}, ..., σ_{i-p+1}:
 *        ℓ_k(τ) = Π_{j ≠ k, j &lt; p} (τ - σ_{i-j}) / (σ_{i-k} - σ_{i-j}),   L_k = ∫_{σ_i}^{σ_{i+1}} ℓ_k(τ) dτ
 *   4. x^σ_{i+1} = x^σ_i + Σ_{k &lt; p} L_k d_{i-k}
 * </pre>
 *
 * The L_k sum to σ_{i+1} - σ_i (the basis sums to 1), so p = 1 is Euler's step. In the loop's
 * variance-preserving x = √ᾱ x^σ (diffusers' scaled model input) and with the telescoped sums S_j =
 * Σ_{k ≥ j} L_k, step i is
 *
 * <pre>
 *   x_{i+1} = √(ᾱ_{i+1}/ᾱ_i) x_i + √ᾱ_{i+1} (S_0 d_i - S_1 (d_i - d_{i-1}) - S_2 (d_{i-1} - d_{i-2})
 *             - S_3 (d_{i-2} - d_{i-3}))
 * </pre>
 *
 * a plan step with history m = ε̂ ({@link SamplingPlan}'s c = √ᾱ_{i+1} S_0, d = -√ᾱ_{i+1} S_1, e =
 * -√ᾱ_{i+1} S_2, f = -√ᾱ_{i+1} S_3). The L_k are the exact integrals of the cubic (diffusers
 * approximates them with {@code scipy.integrate.quad}, relative error 1e-4 at most). A loop that
 * restarts the history (a start at a later step) takes the order its known derivatives allow, from
 * 1 (diffusers' {@code set_begin_index} keeps the order of the full schedule there and drops the
 * terms whose derivatives it lacks). The start x ~ N(0, I) is diffusers' x^σ ~ N(0, σ_0² + 1) (its
 * {@code init_noise_sigma} for leading spacing; σ_0 for linspace and trailing, as {@link
 * EulerSampler} says), and the last step, to σ = 0, returns x^σ_N.
 *
 * @param steps N model evaluations
 * @param order the most derivatives a step uses: 1 to 4 (default 4)
 * @param spacing diffusers' timestep_spacing (default linspace)
 * @param stepsOffset added by leading spacing
 * @param sigmaSpacing the σ_i: the timesteps' own, or Karras' or exponential between the first and
 *     the last of them (diffusers' use_karras_sigmas, use_exponential_sigmas)
 */
public record LmsSampler(
    int steps, int order, TimestepSpacing spacing, int stepsOffset, SigmaSpacing sigmaSpacing)
    implements Sampler {

  /** diffusers' {@code step(order=4)}. */
  public static final int DEFAULT_ORDER = 4;

  /** The most derivatives a step can use: the plan keeps three earlier model outputs. */
  public static final int MAX_ORDER = 4;

  public LmsSampler {
    checkArgument(steps >= 1, "LMS needs at least 1 step, got %s", steps);
    checkArgument(
        order >= 1 && order <= MAX_ORDER, "LMS order must be in [1, %s], got %s", MAX_ORDER, order);
    checkArgument(
        spacing != null, "timestep spacing is null; valid: %s", TimestepSpacing.validNames());
    checkArgument(stepsOffset >= 0, "steps offset must be >= 0, got %s", stepsOffset);
    checkArgument(
        sigmaSpacing != null, "sigma spacing is null; valid: %s", SigmaSpacing.validNames());
  }

  /** diffusers' defaults: order 4, linspace spacing, the timesteps' own σ. */
  public static LmsSampler of(int steps) {
    return new LmsSampler(
        steps, DEFAULT_ORDER, TimestepSpacing.LINSPACE, 0, SigmaSpacing.TIMESTEPS);
  }

  /** This sampler at another order. */
  public LmsSampler withOrder(int lmsOrder) {
    return new LmsSampler(steps, lmsOrder, spacing, stepsOffset, sigmaSpacing);
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    SigmaSteps levels = SigmaSteps.of(schedule, steps, spacing, stepsOffset, sigmaSpacing);
    double[] sigmas = levels.sigmas();
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    for (int i = 0; i < steps; i++) {
      double alphaBar = levels.alphaBar(i);
      double sqrtAlphaBarNext = Math.sqrt(levels.alphaBar(i + 1));
      int p = Math.min(i + 1, order);
      // S_j at the full order and at the orders a restarted history allows (1, 2 or 3 known d)
      double[] full = tailSums(coefficients(sigmas, i, p));
      double[] two = tailSums(coefficients(sigmas, i, Math.min(p, 2)));
      double[] three = tailSums(coefficients(sigmas, i, Math.min(p, 3)));
      // 4. x_{i+1} = √(ᾱ_{i+1}/ᾱ_i) x_i + √ᾱ_{i+1} (S_0 d_i - S_1 Δ_1 - S_2 Δ_2 - S_3 Δ_3)
      plan.step(
              levels.timesteps()[i],
              alphaBar,
              Math.sqrt(levels.alphaBar(i + 1) / alphaBar),
              0,
              sqrtAlphaBarNext * full[0],
              -sqrtAlphaBarNext * full[1],
              0)
          .history(-sqrtAlphaBarNext * full[2], -sqrtAlphaBarNext * two[1])
          .deepHistory(
              -sqrtAlphaBarNext * full[3],
              -sqrtAlphaBarNext * three[1],
              -sqrtAlphaBarNext * three[2]);
    }
    String name =
        String.format(
            "lms(steps=%d, order=%d, spacing=%s%s, sigmas=%s)",
            steps,
            order,
            spacing.configName(),
            stepsOffset > 0 ? ", offset=" + stepsOffset : "",
            sigmaSpacing.configName());
    return plan.build(name, X0Guard.none(), prediction, SamplingPlan.History.EPS);
  }

  /**
   * L_0..L_{p-1} of step i: the integrals over [σ_i, σ_{i+1}] of the Lagrange basis on σ_i, ...,
   * σ_{i-p+1}, each expanded into monomials of u = τ - σ_i (small next to σ, so the expansion loses
   * no digits) and integrated exactly from u = 0 to Δ = σ_{i+1} - σ_i.
   */
  static double[] coefficients(double[] sigmas, int i, int p) {
    double delta = sigmas[i + 1] - sigmas[i];
    double[] out = new double[p];
    for (int k = 0; k < p; k++) {
      // ℓ_k = Σ_n poly[n] u^n
      double[] poly = {1};
      for (int j = 0; j < p; j++) {
        if (j == k) {
          continue;
        }
        double denominator = sigmas[i - k] - sigmas[i - j];
        double node = sigmas[i - j] - sigmas[i];
        double[] next = new double[poly.length + 1];
        for (int n = 0; n < poly.length; n++) {
          next[n + 1] += poly[n] / denominator;
          next[n] -= poly[n] * node / denominator;
        }
        poly = next;
      }
      double integral = 0;
      for (int n = 0; n < poly.length; n++) {
        integral += poly[n] * Math.pow(delta, n + 1) / (n + 1);
      }
      out[k] = integral;
    }
    return out;
  }

  /** S_j = Σ_{k ≥ j} L_k for j = 0..3 (0 past the order). */
  private static double[] tailSums(double[] coefficients) {
    double[] sums = new double[MAX_ORDER];
    for (int j = coefficients.length - 1; j >= 0; j--) {
      sums[j] = coefficients[j] + (j + 1 < coefficients.length ? sums[j + 1] : 0);
    }
    return sums;
  }
}
