package org.tfdiffusion.cli;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.Locale;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.sampling.DdimSampler;
import org.tfdiffusion.sampling.DdpmSampler;
import org.tfdiffusion.sampling.DeisSampler;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.DpmSolverSampler;
import org.tfdiffusion.sampling.EulerAncestralSampler;
import org.tfdiffusion.sampling.EulerSampler;
import org.tfdiffusion.sampling.HeunSampler;
import org.tfdiffusion.sampling.LmsSampler;
import org.tfdiffusion.sampling.PndmSampler;
import org.tfdiffusion.sampling.Sampler;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.sampling.SigmaSpacing;
import org.tfdiffusion.sampling.TimestepSpacing;
import org.tfdiffusion.sampling.UniPcSampler;
import org.tfdiffusion.sampling.X0Guard;
import picocli.CommandLine.Option;

/**
 * The sampler options shared by {@code sample} and {@code export} (picocli mixin), with diffusers'
 * defaults for whatever is not given. See the README's table for the mapping to diffusers'
 * scheduler configs.
 */
public final class SamplerOptions {
  /** The sampler when {@code --sampler} is not given (a distilled student's is ddim). */
  static final SamplerKind DEFAULT_SAMPLER = SamplerKind.DPMPP;

  @Option(
      names = "--sampler",
      converter = NamedOption.Sampler.class,
      completionCandidates = NamedOption.Sampler.class,
      description =
          "ddpm, ddim, dpmpp (DPM-Solver++), dpmpp-sde, dpm-solver (DPM-Solver, noise"
              + " prediction), unipc, euler, euler-ancestral, heun, lms (linear multistep),"
              + " pndm (PLMS) or deis"
              + " (default: dpmpp; a distilled model's: ddim at the steps it was distilled to).")
  SamplerKind sampler;

  @Option(
      names = "--steps",
      description =
          "Model evaluations; heun's N noise levels take 2N - 1 (default: ddpm 1000, ddim 50,"
              + " dpmpp, dpmpp-sde, dpm-solver, unipc, euler, euler-ancestral, lms, pndm, deis 20, heun 10; pndm's N steps take"
              + " N + 1).")
  Integer steps;

  @Option(names = "--eta", defaultValue = "0", description = "DDIM's eta in [0, 1] (default: 0).")
  double eta;

  @Option(
      names = "--spacing",
      description =
          "Timestep spacing: leading, trailing, linspace (default: ddim and pndm leading, the"
              + " others linspace).")
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
      description =
          "The last alpha_bar of ddim and pndm: one or first (diffusers' set_alpha_to_one)"
              + " (default: ddim one, pndm first, as diffusers).")
  String finalAlpha;

  @Option(
      names = "--order",
      description =
          "Solver order of dpmpp, dpmpp-sde, dpm-solver and deis: 1, 2 or 3 (3 is diffusers'"
              + " solver_order=3, DPM-Solver++ 3M); of unipc: 1, 2 or 3 (default: 2); of lms: 1 to"
              + " 4 (default: 4).")
  Integer order;

  /** The order of the multistep solvers when {@code --order} is not given, but LMS's. */
  private static final int DEFAULT_ORDER = 2;

  @Option(
      names = "--sigmas",
      defaultValue = "timesteps",
      description =
          "Noise levels of euler, euler-ancestral, heun, lms, dpmpp, dpmpp-sde, dpm-solver and"
              + " deis:"
              + " timesteps (their own"
              + " sigma), karras (Karras et al., rho 7) or exponential (Lu's lambda) (default:"
              + " ${DEFAULT-VALUE}).")
  String sigmas;

  @Option(
      names = "--final-sigma",
      defaultValue = "zero",
      description =
          "DPM-Solver++'s sigma after the last step: zero or sigma_min (diffusers'"
              + " final_sigmas_type; dpm-solver and deis always end at sigma_min) (default:"
              + " ${DEFAULT-VALUE}).")
  String finalSigma;

  @Option(
      names = "--lower-order-final",
      defaultValue = "true",
      arity = "1",
      description =
          "dpmpp, dpmpp-sde, dpm-solver, deis: first order at the last step (and at most second at the"
              + " one before) below 15 steps (default: ${DEFAULT-VALUE}).")
  boolean lowerOrderFinal;

  @Option(
      names = "--euler-at-final",
      defaultValue = "false",
      arity = "1",
      description =
          "dpmpp, dpmpp-sde, dpm-solver: first order at the last step always (default:"
              + " ${DEFAULT-VALUE}).")
  boolean eulerAtFinal;

  @Option(
      names = "--unipc-variant",
      defaultValue = "bh2",
      description =
          "UniPC's B(h): bh1 or bh2 (diffusers' solver_type) (default: ${DEFAULT-VALUE}).")
  String unipcVariant;

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

  /**
   * These options completed for a model: a distilled student (see {@link TrainConfig.Distillation})
   * samples by default with deterministic DDIM at the steps it was distilled to, the sampler it
   * learnt to match; {@code --sampler} and {@code --steps} given explicitly win. Other models keep
   * these options as they are.
   */
  public SamplerOptions forModel(TrainConfig config) {
    if (!config.distillation().active() || sampler != null) {
      return this;
    }
    SamplerOptions copy = withKind(SamplerKind.DDIM);
    if (copy.steps == null) {
      copy.steps = config.distillation().steps();
    }
    return copy;
  }

  /** These options with another sampler kind (the other settings kept). */
  public SamplerOptions withKind(SamplerKind kind) {
    SamplerOptions copy = new SamplerOptions();
    copy.sampler = kind;
    copy.steps = steps;
    copy.eta = eta;
    copy.spacing = spacing;
    copy.stepsOffset = stepsOffset;
    copy.clipX0 = clipX0;
    copy.x0Guard = x0Guard;
    copy.finalAlpha = finalAlpha;
    copy.order = order;
    copy.variance = variance;
    copy.sigmas = sigmas;
    copy.finalSigma = finalSigma;
    copy.lowerOrderFinal = lowerOrderFinal;
    copy.eulerAtFinal = eulerAtFinal;
    copy.unipcVariant = unipcVariant;
    return copy;
  }

  /** The sampler kind. */
  public SamplerKind kind() {
    return sampler == null ? DEFAULT_SAMPLER : sampler;
  }

  /** The number of steps: given, or the kind's default. */
  public int steps(int trainTimesteps) {
    if (steps != null) {
      return steps;
    }
    return switch (kind()) {
      case DDPM -> trainTimesteps;
      case DDIM -> Math.min(50, trainTimesteps);
      case DPMPP, DPMPP_SDE, DPM_SOLVER, UNIPC, EULER, EULER_ANCESTRAL, LMS, PNDM, DEIS ->
          Math.min(20, trainTimesteps);
      case HEUN -> Math.min(10, trainTimesteps);
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
    SamplerKind kind = kind();
    checkArgument(
        order == null
            || kind == SamplerKind.DPMPP
            || kind == SamplerKind.DPMPP_SDE
            || kind == SamplerKind.DPM_SOLVER
            || kind == SamplerKind.UNIPC
            || kind == SamplerKind.LMS
            || kind == SamplerKind.DEIS,
        "--order %s: %s has no solver order; --order is for dpmpp, dpmpp-sde, dpm-solver, unipc,"
            + " lms and deis",
        order,
        kind.configName());
    int order =
        this.order != null
            ? this.order
            : kind == SamplerKind.LMS ? LmsSampler.DEFAULT_ORDER : DEFAULT_ORDER;
    checkArgument(
        unipcVariant.trim().equalsIgnoreCase("bh2") || kind == SamplerKind.UNIPC,
        "--unipc-variant %s is for --sampler unipc, not %s",
        unipcVariant,
        kind.configName());
    return switch (kind) {
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
              finalAlphaOne(true),
              guard());
      case DPMPP, DPMPP_SDE ->
          new DpmSolverPlusPlusSampler(
              n,
              order,
              spacing(),
              stepsOffset,
              lowerOrderFinal,
              finalSigma(),
              guard(),
              SigmaSpacing.lookup(sigmas),
              eulerAtFinal,
              kind() == SamplerKind.DPMPP_SDE);
      case DPM_SOLVER -> {
        String fs = finalSigma.trim().toLowerCase(Locale.ROOT);
        checkArgument(
            fs.equals("sigma_min") || fs.equals("sigma-min") || fs.equals("zero"),
            "unknown --final-sigma '%s'; valid: zero, sigma_min",
            finalSigma);
        yield new DpmSolverSampler(
            n,
            order,
            spacing(),
            stepsOffset,
            lowerOrderFinal,
            eulerAtFinal,
            SigmaSpacing.lookup(sigmas),
            guard());
      }
      case UNIPC ->
          new UniPcSampler(
              n,
              order,
              UniPcSampler.Variant.lookup(unipcVariant),
              spacing(),
              stepsOffset,
              lowerOrderFinal,
              finalSigma(),
              SigmaSpacing.lookup(sigmas),
              guard());
      case EULER -> new EulerSampler(n, spacing(), stepsOffset, sigmaSpacingWithoutGuard("euler"));
      case EULER_ANCESTRAL ->
          new EulerAncestralSampler(
              n, spacing(), stepsOffset, sigmaSpacingWithoutGuard("euler-ancestral"));
      case HEUN -> new HeunSampler(n, spacing(), stepsOffset, sigmaSpacingWithoutGuard("heun"));
      case LMS -> new LmsSampler(n, order, spacing(), stepsOffset, sigmaSpacingWithoutGuard("lms"));
      case DEIS ->
          new DeisSampler(
              n,
              order,
              spacing(),
              stepsOffset,
              lowerOrderFinal,
              SigmaSpacing.lookup(sigmas),
              guard());
      case PNDM -> {
        checkArgument(
            !guard().active(),
            "pndm does not guard x0 (no --x0-guard or --clip-x0); " + GUARDED + " do");
        checkArgument(
            sigmas.trim().equalsIgnoreCase("timesteps"),
            "--sigmas %s: pndm steps between the spacing's timesteps",
            sigmas);
        yield new PndmSampler(
            n,
            spacing == null ? TimestepSpacing.LEADING : TimestepSpacing.lookup(spacing),
            stepsOffset,
            finalAlphaOne(false));
      }
    };
  }

  private DpmSolverPlusPlusSampler.FinalSigma finalSigma() {
    return switch (finalSigma.trim().toLowerCase(Locale.ROOT)) {
      case "zero", "0" -> DpmSolverPlusPlusSampler.FinalSigma.ZERO;
      case "sigma_min", "sigma-min" -> DpmSolverPlusPlusSampler.FinalSigma.SIGMA_MIN;
      default ->
          throw new IllegalArgumentException(
              "unknown --final-sigma '" + finalSigma + "'; valid: zero, sigma_min");
    };
  }

  /** {@code --final-alpha}: ᾱ past timestep 0 is 1 ("one") or ᾱ_0 ("first"). */
  private boolean finalAlphaOne(boolean byDefault) {
    if (finalAlpha == null) {
      return byDefault;
    }
    return switch (finalAlpha.trim().toLowerCase(Locale.ROOT)) {
      case "one", "1" -> true;
      case "first", "alpha_bar_0" -> false;
      default ->
          throw new IllegalArgumentException(
              "unknown --final-alpha '" + finalAlpha + "'; valid: one, first");
    };
  }

  private TimestepSpacing spacing() {
    return spacing == null ? TimestepSpacing.LINSPACE : TimestepSpacing.lookup(spacing);
  }

  /** The samplers that take an x̂_0 guard, as diffusers' schedulers with thresholding. */
  static final String GUARDED = "ddpm, ddim, dpmpp, dpmpp-sde, dpm-solver, unipc and deis";

  /** The σ spacing of a sampler that takes no x̂_0 guard (which is refused if given). */
  private SigmaSpacing sigmaSpacingWithoutGuard(String name) {
    checkArgument(
        !guard().active(),
        "%s does not guard x0 (no --x0-guard or --clip-x0); %s do",
        name,
        GUARDED);
    return SigmaSpacing.lookup(sigmas);
  }
}
