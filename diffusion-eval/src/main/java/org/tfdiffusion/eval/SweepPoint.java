package org.tfdiffusion.eval;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.tfdiffusion.sampling.SamplerKind;

/**
 * One sampler setting of a sweep: a kind and its number of steps, e.g. {@code ddim-50}.
 *
 * @param kind the sampler
 * @param steps its steps (network evaluations per image)
 */
public record SweepPoint(SamplerKind kind, int steps) {
  /** The sampler sweep of the issue: DDPM-1000, DDPM-250, DDIM-10..100, DPM-Solver++-10..25. */
  public static final String DEFAULT_SAMPLERS =
      "ddpm-1000,ddpm-250,ddim-10,ddim-20,ddim-50,ddim-100,dpmpp-10,dpmpp-15,dpmpp-20,dpmpp-25";

  /** The guidance sweep of the issue. */
  public static final String DEFAULT_GUIDANCE = "0,1,2,3,5";

  public SweepPoint {
    checkArgument(steps >= 1, "a sweep sampler needs >= 1 steps, got %s", steps);
  }

  /**
   * Parses {@code KIND-STEPS}, e.g. {@code ddpm-1000}, {@code dpmpp-20} or {@code dpm-solver++-15}.
   *
   * @throws IllegalArgumentException with the expected form
   */
  public static SweepPoint parse(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    int dash = t.lastIndexOf('-');
    checkArgument(
        dash > 0 && dash < t.length() - 1,
        "sweep sampler '%s' is not KIND-STEPS (e.g. ddim-50; kinds: %s)",
        text,
        SamplerKind.validNames());
    int steps;
    try {
      steps = Integer.parseInt(t.substring(dash + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "sweep sampler '" + text + "': '" + t.substring(dash + 1) + "' is not a step count", e);
    }
    return new SweepPoint(SamplerKind.lookup(t.substring(0, dash)), steps);
  }

  /** Parses a list such as {@link #DEFAULT_SAMPLERS}. */
  public static List<SweepPoint> parseList(List<String> items) {
    List<SweepPoint> out = new ArrayList<>();
    for (String item : items) {
      if (!item.isBlank()) {
        out.add(parse(item));
      }
    }
    checkArgument(!out.isEmpty(), "--sweep-samplers is empty; e.g. %s", DEFAULT_SAMPLERS);
    return out;
  }

  /** E.g. {@code ddim-50}. */
  public String label() {
    return kind.configName() + "-" + steps;
  }
}
