package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.Coefficient;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * PNDM's pseudo linear multistep method, PLMS (Liu et al. 2022, "Pseudo Numerical Methods for
 * Diffusion Models on Manifolds", eq. 9 and 12), with the conventions of diffusers' {@code
 * PNDMScheduler} as pipelines run it ({@code skip_prk_steps=True}): the fourth-order
 * Adams-Bashforth combination of the last four ε̂, fed to the DDIM-like transfer of eq. 9.
 *
 * <pre>
 *   notation: e_j → ets, φ → _get_prev_sample, δ → num_train_timesteps // num_inference_steps
 *   transfer from t to t' (ᾱ_{t'} = the final ᾱ when t' &lt; 0: 1 or ᾱ_0, set_alpha_to_one):
 *     φ(x, ε, t, t') = √(ᾱ_{t'}/ᾱ_t) x - (ᾱ_{t'} - ᾱ_t) ε / (ᾱ_t √(1 - ᾱ_{t'}) + √(ᾱ_t (1 - ᾱ_t) ᾱ_{t'}))
 *   the spacing's τ_0 &gt; τ_1 &gt; ... &gt; τ_{N-1}; the model is evaluated N + 1 times, at
 *   τ_0, τ_1, τ_1, τ_2, ..., τ_{N-1} (diffusers' plms_timesteps):
 *   0.  e_0 = ε̂(x_0, τ_0);            x_1 = φ(x_0, e_0, τ_0, τ_0 - δ)
 *   1.  e_1 = ε̂(x_1, τ_1);            x_2 = φ(x_0, (e_0 + e_1)/2, τ_1 + δ, τ_1)     (a Heun step)
 *   j ≥ 2, the ets E = e_0, e_2, e_3, ..., e_j (e_1 is not kept), their last k = min(j, 4):
 *       ε' = E_{-1}                                           (k = 1, N = 1 only)
 *       ε' = (3 E_{-1} - E_{-2}) / 2                          (k = 2)
 *       ε' = (23 E_{-1} - 16 E_{-2} + 5 E_{-3}) / 12          (k = 3)
 *       ε' = (55 E_{-1} - 59 E_{-2} + 37 E_{-3} - 9 E_{-4}) / 24
 *       x_{j+1} = φ(x_j, ε', τ_{j-1}, τ_{j-1} - δ)
 * </pre>
 *
 * Each step is a {@link SamplingPlan} step with history m = ε̂: step j's ε' is a weighted sum of
 * its own ε̂ and the m of the three steps before, and step 1 passes m_0 on as its own m ({@link
 * SamplingPlan#keepsHistory}), so that the m of steps j-1, j-2, j-3 are the ets diffusers keeps.
 * Step 1 reaches back to x_0 through x_0 = (x_1 - K_0 e_0)/A_0 (A, K the two coefficients of φ).
 * The model output is turned into ε̂ at the timestep it was evaluated at; for v-prediction
 * diffusers instead combines the raw outputs and turns the combination into ε with the step's own x
 * and t, which differs where the combined outputs were taken at other x. A loop that restarts the
 * history takes the Adams-Bashforth orders 1, 2, 3 then 4 (first order being DDIM's step).
 *
 * <p>PNDM's Runge-Kutta warm-up ({@code skip_prk_steps=False}: three steps of four evaluations
 * each) is not offered: its fourth evaluation combines the three before it while the ets keep only
 * the first of each group, more history than a plan step carries.
 *
 * @param steps N (diffusers' num_inference_steps); the model is evaluated N + 1 times (once for N =
 *     1)
 * @param spacing diffusers' timestep_spacing (default leading)
 * @param stepsOffset added by leading spacing (Stable Diffusion's config: 1)
 * @param finalAlphaOne the ᾱ past timestep 0 is 1 (diffusers' set_alpha_to_one, default false: ᾱ_0)
 */
public record PndmSampler(
    int steps, TimestepSpacing spacing, int stepsOffset, boolean finalAlphaOne) implements Sampler {

  /** The Adams-Bashforth weights of E_{-1}, E_{-2}, ... for k = 1..4 kept ε̂ (eq. 12). */
  private static final double[][] ADAMS_BASHFORTH = {
    {1},
    {3.0 / 2, -1.0 / 2},
    {23.0 / 12, -16.0 / 12, 5.0 / 12},
    {55.0 / 24, -59.0 / 24, 37.0 / 24, -9.0 / 24}
  };

  public PndmSampler {
    checkArgument(steps >= 1, "PNDM needs at least 1 step, got %s", steps);
    checkArgument(
        spacing != null, "timestep spacing is null; valid: %s", TimestepSpacing.validNames());
    checkArgument(stepsOffset >= 0, "steps offset must be >= 0, got %s", stepsOffset);
  }

  /** diffusers' defaults: leading spacing, no offset, final ᾱ = ᾱ_0. */
  public static PndmSampler of(int steps) {
    return new PndmSampler(steps, TimestepSpacing.LEADING, 0, false);
  }

  /** The model evaluations of N steps: N + 1 (1 for N = 1). */
  public int evaluations() {
    return steps == 1 ? 1 : steps + 1;
  }

  /** The two coefficients of φ from t to t': x' = A x + K ε. */
  private record Transfer(double a, double k) {}

  private Transfer transfer(NoiseSchedule schedule, int t, int tPrev) {
    double alphaBar = schedule.get(Coefficient.ALPHAS_CUMPROD, t);
    double alphaBarPrev =
        tPrev >= 0
            ? schedule.get(Coefficient.ALPHAS_CUMPROD, tPrev)
            : finalAlphaOne ? 1.0 : schedule.get(Coefficient.ALPHAS_CUMPROD, 0);
    double denominator =
        alphaBar * Math.sqrt(1 - alphaBarPrev)
            + Math.sqrt(alphaBar * (1 - alphaBar) * alphaBarPrev);
    return new Transfer(
        Math.sqrt(alphaBarPrev / alphaBar), -(alphaBarPrev - alphaBar) / denominator);
  }

  /**
   * Weights w_0..w_3 of m_i (the step's own ε̂), m_{i-1}, m_{i-2}, m_{i-3} in the plan's terms: {c,
   * d, e, f} with c m_i + d (m_i - m_{i-1}) + e (m_{i-1} - m_{i-2}) + f (m_{i-2} - m_{i-3}).
   */
  static double[] differences(double[] w) {
    double[] weights = new double[4];
    System.arraycopy(w, 0, weights, 0, w.length);
    double f = -weights[3];
    double e = f - weights[2];
    double d = e - weights[1];
    return new double[] {weights[0] - d, d, e, f};
  }

  private static double[] scaled(double[] w, double k) {
    double[] out = new double[w.length];
    for (int n = 0; n < w.length; n++) {
      out[n] = k * w[n];
    }
    return out;
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    int[] tau = spacing.timesteps(schedule.timesteps(), steps, stepsOffset);
    int delta = schedule.timesteps() / steps;
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    // 0. x_1 = φ(x_0, e_0, τ_0, τ_0 - δ)
    Transfer first = transfer(schedule, tau[0], tau[0] - delta);
    plan.step(tau[0], alphaBar(schedule, tau[0]), first.a(), 0, first.k(), 0, 0);
    if (steps > 1) {
      // 1. x_2 = φ(x_0, (e_0 + e_1)/2, τ_1 + δ, τ_1), x_0 = (x_1 - K_0 e_0) / A_0
      Transfer heun = transfer(schedule, tau[1] + delta, tau[1]);
      double ratio = heun.a() / first.a();
      double[] w = differences(new double[] {heun.k() / 2, heun.k() / 2 - ratio * first.k()});
      plan.step(tau[1], alphaBar(schedule, tau[1]), ratio, 0, w[0], w[1], 0).keepHistory();
      // j ≥ 2: the Adams-Bashforth step from τ_{j-1}
      for (int j = 2; j <= steps; j++) {
        int t = tau[j - 1];
        Transfer step = transfer(schedule, t, t - delta);
        int k = Math.min(j, 4);
        double[] full = differences(scaled(ADAMS_BASHFORTH[k - 1], step.k()));
        double[] one = differences(scaled(ADAMS_BASHFORTH[Math.min(k, 2) - 1], step.k()));
        double[] two = differences(scaled(ADAMS_BASHFORTH[Math.min(k, 3) - 1], step.k()));
        plan.step(t, alphaBar(schedule, t), step.a(), 0, full[0], full[1], 0)
            .history(full[2], one[1])
            .deepHistory(full[3], two[1], two[2]);
      }
    }
    String name =
        String.format(
            "pndm(steps=%d, spacing=%s%s, final_alpha=%s)",
            steps,
            spacing.configName(),
            stepsOffset > 0 ? ", offset=" + stepsOffset : "",
            finalAlphaOne ? "1" : "alpha_bar_0");
    return plan.build(name, X0Guard.none(), prediction, SamplingPlan.History.EPS);
  }

  private static double alphaBar(NoiseSchedule schedule, int t) {
    return schedule.get(Coefficient.ALPHAS_CUMPROD, t);
  }
}
