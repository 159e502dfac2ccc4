package org.tfdiffusion.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Locale;
import org.tfdiffusion.sampling.DdimSampler;
import org.tfdiffusion.sampling.DdpmSampler;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.Sampler;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.sampling.TimestepSpacing;
import org.tfdiffusion.sampling.X0Guard;
import picocli.CommandLine.Option;

/**
 * The sampler options shared by {@code sample} and {@code export} (picocli mixin), with diffusers'
 * defaults for whatever is not given. See the README's table for the mapping to diffusers'
 * scheduler configs.
 */
public final class SamplerOptions {
  @Option(
      names = "--sampler",
      defaultValue = "dpmpp",
      description = "ddpm, ddim or dpmpp (DPM-Solver++) (default: ${DEFAULT-VALUE}).")
  String sampler;

  @Option(
      names = "--steps",
      description = "Model evaluations (default: ddpm 1000, ddim 50, dpmpp 20).")
  Integer steps;

  @Option(names = "--eta", defaultValue = "0", description = "DDIM's eta in [0, 1] (default: 0).")
  double eta;

  @Option(
      names = "--spacing",
      description =
          "Timestep spacing: leading, trailing, linspace (default: ddim leading, dpmpp linspace).")
  String spacing;

  @Option(
      names = "--steps-offset",
      defaultValue = "0",
      description = "diffusers' steps_offset (leading spacing).")
  int stepsOffset;

  @Option(
      names = "--clip-x0",
      description =
          "Clip predicted x0 to [-r, r]; 0 = off (default: 0; diffusers' DDIM clips at 1, which"
              + " ruins guided samples).")
  Double clipX0;

  @Option(
      names = "--x0-guard",
      paramLabel = "GUARD",
      description =
          "What is done to predicted x0 before each update: none, clip[-R] (diffusers'"
              + " clip_sample, R = 1), dynamic[-P[-MAX]] (Imagen's dynamic thresholding, diffusers'"
              + " thresholding: P = 0.995, MAX = none); append +eps to recompute eps from the"
              + " guarded x0 (diffusers' use_clipped_model_output) (default: none).")
  String x0Guard;

  @Option(
      names = "--final-alpha",
      defaultValue = "one",
      description =
          "DDIM's last alpha_bar: one or first (diffusers' set_alpha_to_one) (default: ${DEFAULT-VALUE}).")
  String finalAlpha;

  @Option(
      names = "--order",
      defaultValue = "2",
      description = "DPM-Solver++ order: 1 or 2 (default: 2).")
  int order;

  @Option(
      names = "--variance",
      defaultValue = "posterior",
      description = "DDPM's sigma^2: posterior (beta tilde) or beta (default: ${DEFAULT-VALUE}).")
  String variance;

  /** The x̂_0 guard of {@code --x0-guard} or {@code --clip-x0} (at most one of them). */
  public X0Guard guard() {
    checkArgument(
        x0Guard == null || clipX0 == null,
        "give --x0-guard or --clip-x0, not both (--clip-x0 R is --x0-guard clip-R)");
    if (x0Guard != null) {
      return X0Guard.parse(x0Guard);
    }
    return X0Guard.clip(clipX0 == null ? 0 : clipX0);
  }

  /** These options with another sampler kind (the other settings kept). */
  public SamplerOptions withKind(SamplerKind kind) {
    SamplerOptions copy = new SamplerOptions();
    copy.sampler = kind.configName();
    copy.steps = steps;
    copy.eta = eta;
    copy.spacing = spacing;
    copy.stepsOffset = stepsOffset;
    copy.clipX0 = clipX0;
    copy.x0Guard = x0Guard;
    copy.finalAlpha = finalAlpha;
    copy.order = order;
    copy.variance = variance;
    return copy;
  }

  /** The sampler kind. */
  public SamplerKind kind() {
    return SamplerKind.lookup(sampler);
  }

  /** The number of steps: given, or the kind's default. */
  public int steps(int trainTimesteps) {
    if (steps != null) {
      return steps;
    }
    return switch (kind()) {
      case DDPM -> trainTimesteps;
      case DDIM -> Math.min(50, trainTimesteps);
      case DPMPP -> Math.min(20, trainTimesteps);
    };
  }

  /**
   * The sampler for a model trained with {@code trainTimesteps} steps.
   *
   * @throws IllegalArgumentException for steps outside [1, T], η outside [0, 1], unknown names
   */
  public Sampler build(int trainTimesteps) {
    return build(trainTimesteps, steps(trainTimesteps));
  }

  /** The same sampler settings with {@code n} steps (for tables of plans over N). */
  public Sampler build(int trainTimesteps, int n) {
    checkArgument(
        n >= 1 && n <= trainTimesteps,
        "--steps %s must be in [1, %s], the model's training timesteps",
        n,
        trainTimesteps);
    checkArgument(eta >= 0 && eta <= 1, "--eta %s must be in [0, 1]", eta);
    return switch (kind()) {
      case DDPM ->
          new DdpmSampler(
              n,
              switch (variance.trim().toLowerCase(Locale.ROOT)) {
                case "posterior", "fixed_small" -> DdpmSampler.Variance.POSTERIOR;
                case "beta", "fixed_large" -> DdpmSampler.Variance.BETA;
                default ->
                    throw new IllegalArgumentException(
                        "unknown --variance '" + variance + "'; valid: posterior, beta");
              },
              guard());
      case DDIM ->
          new DdimSampler(
              n,
              eta,
              spacing == null ? TimestepSpacing.LEADING : TimestepSpacing.lookup(spacing),
              stepsOffset,
              switch (finalAlpha.trim().toLowerCase(Locale.ROOT)) {
                case "one", "1" -> true;
                case "first", "alpha_bar_0" -> false;
                default ->
                    throw new IllegalArgumentException(
                        "unknown --final-alpha '" + finalAlpha + "'; valid: one, first");
              },
              guard());
      case DPMPP ->
          new DpmSolverPlusPlusSampler(
              n,
              order,
              spacing == null ? TimestepSpacing.LINSPACE : TimestepSpacing.lookup(spacing),
              stepsOffset,
              true,
              DpmSolverPlusPlusSampler.FinalSigma.ZERO,
              guard());
    };
  }
}
