package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.Coefficient;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), exactly as the tutorial writes it:
 *
 * <pre>
 *   x_{t-1} = 1/√α_t · (x_t - β_t / √(1 - ᾱ_t) · ε_θ(x_t, t)) + σ_t z,    z = 0 at the last step
 *   σ_t² = β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t)      ({@link Variance#POSTERIOR}, default)
 *   σ_t² = β_t                                       ({@link Variance#BETA})
 * </pre>
 *
 * With fewer steps than the training timesteps, the schedule is respaced (Nichol &amp; Dhariwal
 * 2021, "Improved DDPM", section 4): for the evenly spaced subsequence S (their {@code
 * space_timesteps}), β'_i = 1 - ᾱ_{S_i} / ᾱ_{S_{i-1}} and the update above runs on β', α', ᾱ' while
 * the model sees the original timestep S_i. With all T steps this is the plain algorithm.
 *
 * <p>With an x̂_0 guard (clipping or dynamic thresholding), the update uses the posterior mean form
 * {@code μ̃ = coef1 · guard(x̂_0) + coef2 · x_t}, which equals the formula above when the guard
 * changes nothing.
 *
 * @param steps N model evaluations, 1..T (default T)
 * @param variance σ_t² choice
 * @param x0Guard what is done to x̂_0 ({@link X0Guard#none()}, the default, keeps the tutorial's
 *     formula)
 */
public record DdpmSampler(int steps, Variance variance, X0Guard x0Guard) implements Sampler {
  /** The reverse-process variance of Ho et al. (their "fixed small" and "fixed large"). */
  public enum Variance {
    /** σ_t² = β̃_t, the posterior variance (diffusers' "fixed_small"). */
    POSTERIOR,
    /** σ_t² = β_t (diffusers' "fixed_large"). */
    BETA
  }

  public DdpmSampler {
    checkArgument(steps >= 1, "DDPM needs at least 1 step, got %s", steps);
    checkArgument(variance != null, "variance is null");
    checkArgument(x0Guard != null, "x0 guard is null");
  }

  /** DDPM clipping x̂_0 to [-clipX0, clipX0] (0 = off). */
  public DdpmSampler(int steps, Variance variance, double clipX0) {
    this(steps, variance, X0Guard.clip(clipX0));
  }

  /** DDPM with {@code steps} steps, posterior variance, x̂_0 unguarded. */
  public static DdpmSampler of(int steps) {
    return new DdpmSampler(steps, Variance.POSTERIOR, X0Guard.none());
  }

  /**
   * Nichol &amp; Dhariwal's {@code space_timesteps(T, [N])}: N evenly spaced timesteps including 0
   * and T-1, ascending (Python's round, half to even).
   */
  public static int[] respacedTimesteps(int trainTimesteps, int steps) {
    checkArgument(
        steps >= 1 && steps <= trainTimesteps,
        "DDPM steps (%s) must be in [1, %s], the training timesteps",
        steps,
        trainTimesteps);
    int[] taken = new int[steps];
    double stride = steps > 1 ? (trainTimesteps - 1) / (double) (steps - 1) : 1;
    double index = 0;
    for (int i = 0; i < steps; i++) {
      taken[i] = (int) Math.rint(index);
      index += stride;
    }
    return taken;
  }

  @Override
  public SamplingPlan plan(NoiseSchedule schedule, Prediction prediction) {
    int[] ascending = respacedTimesteps(schedule.timesteps(), steps);
    SamplingPlan.Builder plan = new SamplingPlan.Builder();
    for (int i = steps - 1; i >= 0; i--) {
      int t = ascending[i];
      double alphaBar = schedule.get(Coefficient.ALPHAS_CUMPROD, t);
      double alphaBarPrev =
          i > 0 ? schedule.get(Coefficient.ALPHAS_CUMPROD, ascending[i - 1]) : 1.0;
      double beta = 1.0 - alphaBar / alphaBarPrev; // respaced β'
      double alpha = 1.0 - beta;
      double sigma = 0;
      if (i > 0) {
        double var =
            variance == Variance.POSTERIOR ? beta * (1 - alphaBarPrev) / (1 - alphaBar) : beta;
        sigma = Math.sqrt(var);
      }
      if (x0Guard.active()) {
        double coef1 = beta * Math.sqrt(alphaBarPrev) / (1 - alphaBar);
        double coef2 = (1 - alphaBarPrev) * Math.sqrt(alpha) / (1 - alphaBar);
        plan.step(t, alphaBar, coef2, coef1, 0, 0, sigma);
      } else {
        double a = 1 / Math.sqrt(alpha);
        double c = -beta / (Math.sqrt(alpha) * Math.sqrt(1 - alphaBar));
        plan.step(t, alphaBar, a, 0, c, 0, sigma);
      }
    }
    String name =
        String.format(
            "ddpm(steps=%d, variance=%s%s)",
            steps,
            variance.name().toLowerCase(java.util.Locale.ROOT),
            x0Guard.active() ? ", x0=" + x0Guard : "");
    return plan.build(name, x0Guard, prediction);
  }
}
