package org.tfdiffusion.sampling;

import java.util.List;
import org.tfdiffusion.naming.Named;
import org.tfdiffusion.schedule.Coefficient;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * Where the noise levels σ of N sampling steps sit, for the samplers that work in σ (Euler, Heun,
 * DPM-Solver++), as diffusers' {@code use_karras_sigmas} and {@code use_exponential_sigmas} /
 * {@code use_lu_lambdas}. σ is the noise-to-signal ratio of the variance-preserving process:
 *
 * <pre>
 *   σ(t) = √((1 - ᾱ_t) / ᾱ_t),   ᾱ = 1 / (1 + σ²)
 * </pre>
 *
 * A σ that is not the σ of an integer timestep is shown to the model at the nearest one: {@code t =
 * round(σ⁻¹(σ))}, σ⁻¹ interpolating t linearly in log σ between the training timesteps (diffusers'
 * {@code _sigma_to_t}, followed by its {@code round()} as in {@code DPMSolverMultistepScheduler};
 * diffusers' Euler and Heun pass the fractional t, which this project's integer-timestep models do
 * not take). The update itself uses the σ of the spacing.
 */
public enum SigmaSpacing implements Named {
  /** σ_i = σ(t_i) at the timestep spacing's own timesteps (diffusers' default). */
  TIMESTEPS("timesteps"),
  /**
   * Karras et al. 2022 ("Elucidating the Design Space of Diffusion-Based Generative Models", eq. 5)
   * with ρ = 7: {@code σ_i = (σ_max^{1/ρ} + i/(N-1) (σ_min^{1/ρ} - σ_max^{1/ρ}))^ρ}.
   */
  KARRAS("karras"),
  /**
   * Evenly spaced in log σ, i.e. in Lu et al.'s λ = -log σ: {@code σ_i = exp(log σ_max + i/(N-1)
   * (log σ_min - log σ_max))} (diffusers' {@code use_exponential_sigmas}, {@code use_lu_lambdas}).
   */
  EXPONENTIAL("exponential", "lu");

  /** Karras et al.'s ρ. */
  public static final double KARRAS_RHO = 7.0;

  private final String[] aliases;

  SigmaSpacing(String... aliases) {
    this.aliases = aliases;
  }

  @Override
  public List<String> names() {
    return List.of(aliases);
  }

  /** σ = √((1 - ᾱ)/ᾱ), the noise-to-signal ratio. */
  static double sigma(double alphaBar) {
    return Math.sqrt((1 - alphaBar) / alphaBar);
  }

  /** ᾱ = 1/(1 + σ²). */
  static double alphaBar(double sigma) {
    return 1 / (1 + sigma * sigma);
  }

  /**
   * The N noise levels, descending, from σ_max to σ_min.
   *
   * @param spaced σ(t_i) at the spacing's timesteps, used as they are by {@link #TIMESTEPS}
   */
  double[] sigmas(double[] spaced, double sigmaMax, double sigmaMin) {
    int n = spaced.length;
    double[] out = new double[n];
    double[] ramp = TimestepSpacing.numpyLinspace(1.0, n);
    switch (this) {
      case TIMESTEPS -> System.arraycopy(spaced, 0, out, 0, n);
      case KARRAS -> {
        double minInvRho = Math.pow(sigmaMin, 1 / KARRAS_RHO);
        double maxInvRho = Math.pow(sigmaMax, 1 / KARRAS_RHO);
        for (int i = 0; i < n; i++) {
          out[i] = Math.pow(maxInvRho + ramp[i] * (minInvRho - maxInvRho), KARRAS_RHO);
        }
      }
      case EXPONENTIAL -> {
        double logMax = Math.log(sigmaMax);
        double logMin = Math.log(sigmaMin);
        for (int i = 0; i < n; i++) {
          out[i] = Math.exp(logMax + ramp[i] * (logMin - logMax));
        }
      }
    }
    return out;
  }

  /**
   * The integer timestep nearest to σ: diffusers' {@code _sigma_to_t} (linear in log σ between the
   * two training timesteps around it, clamped to [0, T - 1]) rounded half to even.
   */
  static int timestepOf(double sigma, NoiseSchedule schedule) {
    int trainSteps = schedule.timesteps();
    double logSigma = Math.log(Math.max(sigma, 1e-10));
    // the last training timestep whose log σ is at most log σ (0 if none), at most T - 2
    int low = 0;
    for (int t = 0; t < trainSteps; t++) {
      if (logSigma >= logSigmaAt(schedule, t)) {
        low = t;
      }
    }
    low = Math.min(low, trainSteps - 2);
    double lowLog = logSigmaAt(schedule, low);
    double highLog = logSigmaAt(schedule, low + 1);
    double w = Math.min(Math.max((lowLog - logSigma) / (lowLog - highLog), 0), 1);
    return (int) Math.rint((1 - w) * low + w * (low + 1));
  }

  private static double logSigmaAt(NoiseSchedule schedule, int t) {
    return Math.log(sigma(schedule.get(Coefficient.ALPHAS_CUMPROD, t)));
  }

  /**
   * Finds a σ spacing by name.
   *
   * @throws IllegalArgumentException listing the valid names
   */
  public static SigmaSpacing lookup(String name) {
    return Named.lookup(SigmaSpacing.class, "sigma spacing", name);
  }

  public static String validNames() {
    return Named.validNames(SigmaSpacing.class);
  }
}
