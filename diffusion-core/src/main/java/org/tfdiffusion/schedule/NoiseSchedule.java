package org.tfdiffusion.schedule;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkElementIndex;

import com.google.common.primitives.ImmutableDoubleArray;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;

/**
 * An immutable DDPM noise schedule: β_1..β_T and every coefficient derived from them, computed in
 * double precision (Ho et al. 2020, "Denoising Diffusion Probabilistic Models").
 *
 * <pre>
 *   α_t  = 1 - β_t                    ᾱ_t = ∏_{s≤t} α_s            ᾱ_{-1} = 1
 *   # q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I)
 *   # posterior q(x_{t-1} | x_t, x_0) = N(coef1 x_0 + coef2 x_t, β̃_t I)
 *   β̃_t   = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t)
 *   coef1 = β_t √ᾱ_{t-1} / (1 - ᾱ_t)      coef2 = (1 - ᾱ_{t-1}) √α_t / (1 - ᾱ_t)
 * </pre>
 *
 * <p>Index t runs over 0..T-1. Use {@link ScheduleTensors} to turn the arrays into float32 graph
 * constants gathered per sample.
 */
public final class NoiseSchedule {
  /** The tutorial's number of diffusion steps. */
  public static final int DEFAULT_TIMESTEPS = 1000;

  /** The tutorial's β_1. */
  public static final double DEFAULT_BETA_START = 1e-4;

  /** The tutorial's β_T. */
  public static final double DEFAULT_BETA_END = 0.02;

  /** Lower clamp of the posterior variance before the log (β̃ is 0 at t = 0). */
  public static final double POSTERIOR_VARIANCE_FLOOR = 1e-20;

  private final Optional<BetaSchedule> kind;
  private final Map<Coefficient, ImmutableDoubleArray> arrays;

  private NoiseSchedule(Optional<BetaSchedule> kind, double[] betas) {
    this.kind = kind;
    this.arrays = derive(betas);
  }

  /**
   * The tutorial's schedule: {@link BetaSchedule#LINEAR}, T = 1000, β from 1e-4 to 0.02.
   *
   * @return the default schedule
   */
  public static NoiseSchedule linear() {
    return create(BetaSchedule.LINEAR, DEFAULT_TIMESTEPS, DEFAULT_BETA_START, DEFAULT_BETA_END);
  }

  /**
   * Builds the schedule {@code kind} with T steps between β_start and β_end.
   *
   * @throws IllegalArgumentException if T &lt; 1 or a resulting β is outside (0, 1) or not finite
   */
  public static NoiseSchedule create(
      BetaSchedule kind, int timesteps, double betaStart, double betaEnd) {
    checkArgument(kind != null, "beta schedule is null; valid: %s", BetaSchedule.validNames());
    checkArgument(
        Double.isFinite(betaStart) && Double.isFinite(betaEnd),
        "beta_start (%s) and beta_end (%s) must be finite",
        betaStart,
        betaEnd);
    if (kind != BetaSchedule.COSINE) {
      checkArgument(
          betaStart > 0 && betaStart < 1,
          "beta_start = %s is outside (0, 1); the tutorial uses %s",
          betaStart,
          DEFAULT_BETA_START);
      checkArgument(
          betaEnd > 0 && betaEnd < 1,
          "beta_end = %s is outside (0, 1); the tutorial uses %s",
          betaEnd,
          DEFAULT_BETA_END);
    }
    return new NoiseSchedule(Optional.of(kind), kind.betas(timesteps, betaStart, betaEnd));
  }

  /**
   * A schedule from explicit β values (for instance a respaced one).
   *
   * @throws IllegalArgumentException if there are no values, or one is outside (0, 1) or not
   *     finite; the message names the index and the value
   */
  public static NoiseSchedule fromBetas(double... betas) {
    return new NoiseSchedule(Optional.empty(), betas.clone());
  }

  /** The schedule this was built from, or empty for {@link #fromBetas explicit betas}. */
  public Optional<BetaSchedule> kind() {
    return kind;
  }

  /** T, the number of diffusion steps. */
  public int timesteps() {
    return arrays.get(Coefficient.BETAS).length();
  }

  /** The whole array of one coefficient, index 0..T-1. */
  public ImmutableDoubleArray get(Coefficient coefficient) {
    return arrays.get(coefficient);
  }

  /**
   * One coefficient at timestep t.
   *
   * @throws IndexOutOfBoundsException if t is outside [0, T)
   */
  public double get(Coefficient coefficient, int t) {
    checkElementIndex(t, timesteps(), "timestep t");
    return arrays.get(coefficient).get(t);
  }

  /** β_t for all t. */
  public ImmutableDoubleArray betas() {
    return get(Coefficient.BETAS);
  }

  /** ᾱ_t for all t. */
  public ImmutableDoubleArray alphasCumprod() {
    return get(Coefficient.ALPHAS_CUMPROD);
  }

  @Override
  public String toString() {
    ImmutableDoubleArray betas = betas();
    return String.format(
        "NoiseSchedule[%s, T=%d, beta %.4g..%.4g, alpha_bar_T=%.4g]",
        kind.map(BetaSchedule::configName).orElse("custom"),
        timesteps(),
        betas.get(0),
        betas.get(betas.length() - 1),
        alphasCumprod().get(timesteps() - 1));
  }

  private static Map<Coefficient, ImmutableDoubleArray> derive(double[] betas) {
    checkArgument(betas.length >= 1, "a noise schedule needs at least one step (T >= 1), got 0");
    for (int t = 0; t < betas.length; t++) {
      double beta = betas[t];
      if (!Double.isFinite(beta)) {
        throw new IllegalArgumentException("beta[" + t + "] = " + beta + " is not finite");
      }
      if (!(beta > 0.0 && beta < 1.0)) {
        throw new IllegalArgumentException(
            "beta["
                + t
                + "] = "
                + beta
                + " is outside (0, 1); every noise level must satisfy 0 < beta < 1");
      }
    }
    int n = betas.length;
    double[] alphas = new double[n];
    double[] alphasCumprod = new double[n];
    double[] alphasCumprodPrev = new double[n];
    double running = 1.0;
    for (int t = 0; t < n; t++) {
      alphas[t] = 1.0 - betas[t];
      alphasCumprodPrev[t] = running;
      running *= alphas[t];
      alphasCumprod[t] = running;
    }
    Map<Coefficient, ImmutableDoubleArray> out = new EnumMap<>(Coefficient.class);
    for (Coefficient c : Coefficient.values()) {
      double[] values = new double[n];
      for (int t = 0; t < n; t++) {
        values[t] = value(c, betas[t], alphas[t], alphasCumprod[t], alphasCumprodPrev[t]);
      }
      out.put(c, ImmutableDoubleArray.copyOf(values));
    }
    return out;
  }

  private static double value(
      Coefficient c, double beta, double alpha, double alphaBar, double alphaBarPrev) {
    return switch (c) {
      case BETAS -> beta;
      case ALPHAS -> alpha;
      case ALPHAS_CUMPROD -> alphaBar;
      case ALPHAS_CUMPROD_PREV -> alphaBarPrev;
      case SQRT_ALPHAS_CUMPROD -> Math.sqrt(alphaBar);
      case SQRT_ONE_MINUS_ALPHAS_CUMPROD -> Math.sqrt(1.0 - alphaBar);
      case SQRT_RECIP_ALPHAS -> Math.sqrt(1.0 / alpha);
      case SQRT_RECIP_ALPHAS_CUMPROD -> Math.sqrt(1.0 / alphaBar);
      case SQRT_RECIPM1_ALPHAS_CUMPROD -> Math.sqrt(1.0 / alphaBar - 1.0);
      case POSTERIOR_VARIANCE -> posteriorVariance(beta, alphaBar, alphaBarPrev);
      case POSTERIOR_LOG_VARIANCE_CLIPPED ->
          Math.log(
              Math.max(posteriorVariance(beta, alphaBar, alphaBarPrev), POSTERIOR_VARIANCE_FLOOR));
      case POSTERIOR_MEAN_COEF1 -> beta * Math.sqrt(alphaBarPrev) / (1.0 - alphaBar);
      case POSTERIOR_MEAN_COEF2 -> (1.0 - alphaBarPrev) * Math.sqrt(alpha) / (1.0 - alphaBar);
    };
  }

  private static double posteriorVariance(double beta, double alphaBar, double alphaBarPrev) {
    return beta * (1.0 - alphaBarPrev) / (1.0 - alphaBar);
  }
}
