package org.tfdiffusion.schedule;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.List;
import org.tfdiffusion.naming.Named;

/**
 * The ways to lay out the noise levels β_1..β_T of the forward process {@code q(x_t | x_{t-1}) =
 * N(x_t; √(1-β_t) x_{t-1}, β_t I)}.
 *
 * <p>Every schedule is a pure function of (T, β_start, β_end) computed in double precision. The
 * names accepted by {@link #lookup(String)} include HuggingFace diffusers' {@code beta_schedule}
 * strings, so a diffusers configuration carries over unchanged ('-' and '_' are alike):
 *
 * <table>
 *   <caption>Schedules and their aliases</caption>
 *   <tr><th>constant</th><th>aliases</th><th>source</th></tr>
 *   <tr><td>{@link #LINEAR}</td><td>linear</td><td>Ho et al. 2020 (the tutorial's default)</td></tr>
 *   <tr><td>{@link #SCALED_LINEAR}</td><td>scaled_linear</td>
 *       <td>Stable Diffusion / diffusers</td></tr>
 *   <tr><td>{@link #COSINE}</td><td>cosine, squaredcos_cap_v2</td>
 *       <td>Nichol &amp; Dhariwal 2021, eq. 17</td></tr>
 *   <tr><td>{@link #SIGMOID}</td><td>sigmoid</td><td>Xu et al. 2022 (GeoDiff) / diffusers</td></tr>
 * </table>
 */
public enum BetaSchedule implements Named {
  /** {@code β_t = β_start + (β_end - β_start) · t / (T - 1)}, t = 0..T-1 (torch.linspace). */
  LINEAR("linear") {
    @Override
    double[] compute(int timesteps, double betaStart, double betaEnd) {
      return linspace(betaStart, betaEnd, timesteps);
    }
  },
  /**
   * {@code β_t = (√β_start + (√β_end - √β_start) · t / (T - 1))²}: linear in √β, as in Stable
   * Diffusion.
   */
  SCALED_LINEAR("scaled_linear") {
    @Override
    double[] compute(int timesteps, double betaStart, double betaEnd) {
      double[] roots = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), timesteps);
      return Arrays.stream(roots).map(r -> r * r).toArray();
    }
  },
  /**
   * Nichol &amp; Dhariwal 2021 ("Improved DDPM", eq. 17): {@code ᾱ(t) = f(t) / f(0)}, {@code f(t) =
   * cos²(((t/T) + s) / (1 + s) · π/2)}, s = 0.008, and {@code β_t = min(1 - ᾱ(t+1)/ᾱ(t), 0.999)}.
   * β_start and β_end are ignored.
   */
  COSINE("cosine", "squaredcos_cap_v2") {
    @Override
    double[] compute(int timesteps, double betaStart, double betaEnd) {
      double[] betas = new double[timesteps];
      for (int t = 0; t < timesteps; t++) {
        double ratio =
            cosineAlphaBar((t + 1) / (double) timesteps) / cosineAlphaBar(t / (double) timesteps);
        betas[t] = Math.min(1.0 - ratio, COSINE_MAX_BETA);
      }
      return betas;
    }
  },
  /**
   * {@code β_t = σ(-6 + 12 · t / (T - 1)) · (β_end - β_start) + β_start} with σ the logistic
   * function (GeoDiff, Xu et al. 2022; diffusers' "sigmoid").
   */
  SIGMOID("sigmoid") {
    @Override
    double[] compute(int timesteps, double betaStart, double betaEnd) {
      double[] xs = linspace(-SIGMOID_RANGE, SIGMOID_RANGE, timesteps);
      return Arrays.stream(xs)
          .map(x -> 1.0 / (1.0 + Math.exp(-x)) * (betaEnd - betaStart) + betaStart)
          .toArray();
    }
  };

  /** The offset s of the cosine schedule, which keeps β_1 from being vanishingly small. */
  public static final double COSINE_OFFSET = 0.008;

  /** The cosine schedule's upper clip on β, which prevents singularities near t = T. */
  public static final double COSINE_MAX_BETA = 0.999;

  private static final double SIGMOID_RANGE = 6.0;

  private final String[] aliases;

  BetaSchedule(String... aliases) {
    this.aliases = aliases;
  }

  /**
   * Returns β_1..β_T (index 0..T-1) in double precision.
   *
   * @throws IllegalArgumentException if {@code timesteps < 1}; the values themselves are validated
   *     by {@link NoiseSchedule}
   */
  public double[] betas(int timesteps, double betaStart, double betaEnd) {
    checkArgument(timesteps >= 1, "timesteps (T) must be at least 1, got %s", timesteps);
    return compute(timesteps, betaStart, betaEnd);
  }

  abstract double[] compute(int timesteps, double betaStart, double betaEnd);

  /** The canonical lower-case name, as written in config files. */
  @Override
  public List<String> names() {
    return List.of(aliases);
  }

  /**
   * Finds a schedule by name, case-insensitively, accepting the enum constant and every alias
   * (including diffusers' {@code beta_schedule} names).
   *
   * @throws IllegalArgumentException naming the valid schedules if none matches
   */
  public static BetaSchedule lookup(String name) {
    return Named.lookup(BetaSchedule.class, "beta schedule", name);
  }

  /** All accepted names, for help texts and error messages. */
  public static String validNames() {
    return Named.validNames(BetaSchedule.class);
  }

  static double[] linspace(double start, double end, int n) {
    double[] out = new double[n];
    if (n == 1) {
      out[0] = start;
      return out;
    }
    double step = (end - start) / (n - 1);
    for (int i = 0; i < n; i++) {
      out[i] = start + step * i;
    }
    out[n - 1] = end;
    return out;
  }

  private static double cosineAlphaBar(double fraction) {
    double angle = (fraction + COSINE_OFFSET) / (1.0 + COSINE_OFFSET) * Math.PI / 2.0;
    double c = Math.cos(angle);
    return c * c;
  }
}
