package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Locale;

/**
 * What a sampler does to the predicted x̂_0 before it uses it, so that a weak model's prediction
 * cannot run away from the data's range [-1, 1] (pixel-space models only):
 *
 * <pre>
 *   NONE      x̂_0 as predicted (the tutorial's formulas)
 *   CLIP      x̂_0 ← clip(x̂_0, -r, r)                                     (diffusers' clip_sample)
 *   DYNAMIC   s = the p-th quantile of |x̂_0| over each image's pixels,    (Saharia et al. 2022,
 *             s = min(max(s, 1), m),  x̂_0 ← clip(x̂_0, -s, s) / s            "Imagen", section 2.3)
 * </pre>
 *
 * DYNAMIC is diffusers' {@code thresholding=True} with {@code dynamic_thresholding_ratio} p and
 * {@code sample_max_value} m (the quantile interpolates linearly between order statistics, as
 * {@code torch.quantile}); m = ∞ is Imagen's own form. An image whose pixels all lie within [-1, 1]
 * is left as it is.
 *
 * <p>Where a sampler uses ε̂ besides x̂_0 (DDIM), {@code recomputeEps} derives ε̂ again from the
 * guarded x̂_0, {@code ε̂ = (x_t - √ᾱ_t x̂_0) / √(1 - ᾱ_t)} (diffusers' {@code
 * use_clipped_model_output}); otherwise the model's ε̂ is kept beside the guarded x̂_0.
 *
 * @param kind what is done
 * @param range CLIP's r, or DYNAMIC's m (∞ for none); 0 for NONE
 * @param ratio DYNAMIC's quantile p in (0, 1]; 0 otherwise
 * @param recomputeEps derive ε̂ from the guarded x̂_0
 */
public record X0Guard(Kind kind, double range, double ratio, boolean recomputeEps) {
  /** diffusers' and Imagen's quantile. */
  public static final double DEFAULT_RATIO = 0.995;

  /** The guards. */
  public enum Kind {
    NONE,
    CLIP,
    DYNAMIC
  }

  public X0Guard {
    checkArgument(kind != null, "x0 guard kind is null; valid: none, clip, dynamic");
    switch (kind) {
      case NONE -> checkArgument(range == 0 && ratio == 0, "no x0 guard takes no range or ratio");
      case CLIP ->
          checkArgument(
              Double.isFinite(range) && range > 0, "clip range must be > 0, got %s", range);
      case DYNAMIC -> {
        checkArgument(
            ratio > 0 && ratio <= 1, "dynamic thresholding ratio must be in (0, 1], got %s", ratio);
        // a max below 1 fixes s at the max, as torch.clamp(s, min=1, max=m) does in diffusers
        checkArgument(
            range > 0, "dynamic thresholding's max value must be > 0 (or infinite), got %s", range);
      }
    }
  }

  /** x̂_0 as predicted. */
  public static X0Guard none() {
    return new X0Guard(Kind.NONE, 0, 0, false);
  }

  /** {@code clip(x̂_0, -r, r)}, or none for r = 0 (the {@code --clip-x0} convention). */
  public static X0Guard clip(double r) {
    checkArgument(r >= 0, "clip range must be >= 0 (0 = off), got %s", r);
    return r == 0 ? none() : new X0Guard(Kind.CLIP, r, 0, false);
  }

  /** Imagen's dynamic thresholding at quantile p, s unbounded above. */
  public static X0Guard dynamic(double ratio) {
    return new X0Guard(Kind.DYNAMIC, Double.POSITIVE_INFINITY, ratio, false);
  }

  /** diffusers' thresholding: quantile p, s at most {@code maxValue}. */
  public static X0Guard dynamic(double ratio, double maxValue) {
    return new X0Guard(Kind.DYNAMIC, maxValue, ratio, false);
  }

  /** This guard with ε̂ recomputed from the guarded x̂_0 (or kept). */
  public X0Guard withRecomputeEps(boolean on) {
    return new X0Guard(kind, range, ratio, on);
  }

  /** Whether x̂_0 is changed at all. */
  public boolean active() {
    return kind != Kind.NONE;
  }

  /**
   * Parses {@code none}, {@code clip} (r = 1), {@code clip-R}, {@code dynamic} (p = 0.995), {@code
   * dynamic-P} or {@code dynamic-P-M} (max value M), each optionally followed by {@code +eps} (ε̂
   * recomputed from the guarded x̂_0), as the command lines take them.
   *
   * @throws IllegalArgumentException naming the accepted forms
   */
  public static X0Guard parse(String text) {
    checkArgument(text != null, "x0 guard is null; valid: %s", FORMS);
    String key = text.trim().toLowerCase(Locale.ROOT).replace('_', '-');
    if (key.endsWith("+eps")) {
      return parse(key.substring(0, key.length() - "+eps".length())).withRecomputeEps(true);
    }
    try {
      if (key.equals("none") || key.equals("off")) {
        return none();
      }
      if (key.equals("clip")) {
        return clip(1);
      }
      if (key.startsWith("clip-")) {
        return clip(Double.parseDouble(key.substring("clip-".length())));
      }
      if (key.equals("dynamic")) {
        return dynamic(DEFAULT_RATIO);
      }
      if (key.startsWith("dynamic-")) {
        String[] parts = key.substring("dynamic-".length()).split("-");
        if (parts.length == 1) {
          return dynamic(Double.parseDouble(parts[0]));
        }
        if (parts.length == 2) {
          return dynamic(Double.parseDouble(parts[0]), Double.parseDouble(parts[1]));
        }
      }
    } catch (NumberFormatException e) {
      // falls through to the error below
    }
    throw new IllegalArgumentException("unknown x0 guard '" + text + "'; valid: " + FORMS);
  }

  private static final String FORMS =
      "none, clip (r = 1), clip-R, dynamic (p = 0.995), dynamic-P, dynamic-P-MAX;"
          + " append +eps to recompute eps from the guarded x0";

  /** The form {@link #parse} reads, plus {@code +eps} when ε̂ is recomputed. */
  @Override
  public String toString() {
    String base =
        switch (kind) {
          case NONE -> "none";
          case CLIP -> "clip-" + number(range);
          case DYNAMIC ->
              "dynamic-" + number(ratio) + (Double.isInfinite(range) ? "" : "-" + number(range));
        };
    return recomputeEps ? base + "+eps" : base;
  }

  private static String number(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
  }
}
