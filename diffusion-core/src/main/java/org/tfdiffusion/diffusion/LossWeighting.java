package org.tfdiffusion.diffusion;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Locale;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * How the training loss weights its timesteps. With SNR_t = ᾱ_t / (1 - ᾱ_t), the three targets'
 * squared errors are one error seen at three scales,
 *
 * <pre>
 *   ||ε - ε̂||² = SNR_t ||x_0 - x̂_0||²,    ||v - v̂||² = (SNR_t + 1) ||x_0 - x̂_0||²,
 * </pre>
 *
 * so a weight on x_0's error carries over to every prediction type:
 *
 * <ul>
 *   <li>{@link Kind#UNIFORM}: every timestep counts as its target's plain mean squared error (Ho et
 *       al. 2020; the tutorial).
 *   <li>{@link Kind#MIN_SNR}: Min-SNR-γ (Hang et al. 2023, "Efficient Diffusion Training via
 *       Min-SNR Weighting Strategy", eq. 10): x_0's error weighted by min(SNR_t, γ), which is
 * </ul>
 *
 * <pre>
 *   w_t = min(SNR_t, γ) / SNR_t          for ε
 *   w_t = min(SNR_t, γ)                  for x_0
 *   w_t = min(SNR_t, γ) / (SNR_t + 1)    for v
 * </pre>
 *
 * (diffusers' {@code snr_gamma} in its training examples). The low-noise timesteps, whose easy
 * targets would otherwise dominate the gradient, count less; the paper's γ is 5.
 *
 * @param kind the weighting
 * @param gamma Min-SNR's γ (> 0); 0 for {@link Kind#UNIFORM}
 */
public record LossWeighting(Kind kind, double gamma) {
  /** The paper's γ. */
  public static final double DEFAULT_GAMMA = 5.0;

  /** The weightings. */
  public enum Kind {
    UNIFORM,
    MIN_SNR
  }

  public LossWeighting {
    checkArgument(kind != null, "loss weighting kind is null; valid: uniform, min-snr-GAMMA");
    if (kind == Kind.UNIFORM) {
      checkArgument(gamma == 0, "uniform loss weighting takes no gamma, got %s", gamma);
    } else {
      checkArgument(
          Double.isFinite(gamma) && gamma > 0, "min-snr gamma must be > 0, got %s", gamma);
    }
  }

  /** Every timestep alike: the tutorial's loss. */
  public static LossWeighting uniform() {
    return new LossWeighting(Kind.UNIFORM, 0);
  }

  /** Min-SNR-γ. */
  public static LossWeighting minSnr(double gamma) {
    return new LossWeighting(Kind.MIN_SNR, gamma);
  }

  /**
   * Parses {@code uniform}, {@code min-snr} (γ = 5) or {@code min-snr-GAMMA} such as {@code
   * min-snr-5}; case and {@code _} for {@code -} do not matter.
   *
   * @throws IllegalArgumentException naming the accepted forms
   */
  public static LossWeighting parse(String text) {
    checkArgument(text != null, "loss weighting is null; valid: uniform, min-snr, min-snr-GAMMA");
    String key = text.trim().toLowerCase(Locale.ROOT).replace('_', '-');
    if (key.equals("uniform") || key.equals("none")) {
      return uniform();
    }
    if (key.equals("min-snr")) {
      return minSnr(DEFAULT_GAMMA);
    }
    if (key.startsWith("min-snr-")) {
      try {
        return minSnr(Double.parseDouble(key.substring("min-snr-".length())));
      } catch (NumberFormatException e) {
        // falls through to the error below
      }
    }
    throw new IllegalArgumentException(
        "unknown loss weighting '" + text + "'; valid: uniform, min-snr (gamma 5), min-snr-GAMMA");
  }

  /** True for {@link Kind#UNIFORM}. */
  public boolean isUniform() {
    return kind == Kind.UNIFORM;
  }

  /** The form {@link #parse} reads: {@code uniform} or {@code min-snr-5}. */
  @Override
  public String toString() {
    if (isUniform()) {
      return "uniform";
    }
    return "min-snr-" + (gamma == Math.rint(gamma) ? String.valueOf((long) gamma) : gamma);
  }

  /**
   * The weight of every timestep in double precision, the formulas above: w_t for t = 0 .. T-1.
   *
   * @param schedule the noise schedule (its ᾱ_t)
   * @param prediction the training target
   */
  public double[] weights(NoiseSchedule schedule, Prediction prediction) {
    double[] out = new double[schedule.timesteps()];
    for (int t = 0; t < out.length; t++) {
      if (isUniform()) {
        out[t] = 1.0;
        continue;
      }
      double alphaBar = schedule.alphasCumprod().get(t);
      double snr = alphaBar / (1.0 - alphaBar);
      double clipped = Math.min(snr, gamma);
      out[t] =
          switch (prediction) {
            case EPSILON -> clipped / snr;
            case SAMPLE -> clipped;
            case V_PREDICTION -> clipped / (snr + 1.0);
          };
    }
    return out;
  }
}
