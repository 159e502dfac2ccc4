package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The samplers by name, for command lines and config files. */
public enum SamplerKind {
  /** {@link DdpmSampler}: ancestral, the tutorial's algorithm (respaced below T steps). */
  DDPM("ddpm"),
  /** {@link DdimSampler}: η = 0 deterministic. */
  DDIM("ddim"),
  /** {@link DpmSolverPlusPlusSampler}: second-order multistep, 10-25 steps. */
  DPMPP("dpmpp", "dpm++", "dpm-solver++", "dpmsolver++");

  private final String[] aliases;

  SamplerKind(String... aliases) {
    this.aliases = aliases;
  }

  public String configName() {
    return aliases[0];
  }

  /**
   * The sampler of this kind with diffusers' defaults for its other settings.
   *
   * @param eta used by DDIM only
   */
  public Sampler create(int steps, double eta) {
    return switch (this) {
      case DDPM -> DdpmSampler.of(steps);
      case DDIM -> DdimSampler.of(steps, eta);
      case DPMPP -> DpmSolverPlusPlusSampler.of(steps);
    };
  }

  /**
   * Finds a sampler by name or alias.
   *
   * @throws IllegalArgumentException listing the valid names
   */
  public static SamplerKind lookup(String name) {
    checkArgument(name != null, "sampler name is null; valid: %s", validNames());
    String key = name.trim().toLowerCase(Locale.ROOT);
    for (SamplerKind k : values()) {
      if (Arrays.asList(k.aliases).contains(key)) {
        return k;
      }
    }
    throw new IllegalArgumentException("unknown sampler '" + name + "'; valid: " + validNames());
  }

  public static String validNames() {
    return Arrays.stream(values()).map(SamplerKind::configName).collect(Collectors.joining(", "));
  }
}
