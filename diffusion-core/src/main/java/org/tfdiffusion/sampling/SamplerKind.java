package org.tfdiffusion.sampling;

import java.util.List;
import org.tfdiffusion.naming.Named;

/** The samplers by name, for command lines and config files. */
public enum SamplerKind implements Named {
  /** {@link DdpmSampler}: ancestral, the tutorial's algorithm (respaced below T steps). */
  DDPM("ddpm"),
  /** {@link DdimSampler}: η = 0 deterministic. */
  DDIM("ddim"),
  /** {@link DpmSolverPlusPlusSampler}: second-order (or third-order, 3M) multistep, 10-25 steps. */
  DPMPP("dpmpp", "dpm++", "dpm-solver++", "dpmsolver++"),
  /** {@link DpmSolverPlusPlusSampler} as an SDE: second-order multistep with fresh noise. */
  DPMPP_SDE("dpmpp-sde", "dpm++-sde", "sde-dpm-solver++", "sde-dpmsolver++"),
  /** {@link DpmSolverSampler}: DPM-Solver's multistep solver in noise prediction, orders 1-3. */
  DPM_SOLVER("dpm-solver", "dpmsolver"),
  /** {@link UniPcSampler}: UniPC's predictor-corrector multistep solver, order 2, bh2. */
  UNIPC("unipc", "uni-pc"),
  /** {@link EulerSampler}: Euler's method on the probability-flow ODE in σ. */
  EULER("euler"),
  /** {@link EulerAncestralSampler}: Euler steps with fresh noise (diffusers' "Euler a"). */
  EULER_ANCESTRAL("euler-ancestral", "euler-a"),
  /** {@link HeunSampler}: Heun's second-order method, 2N - 1 model evaluations. */
  HEUN("heun"),
  /** {@link LmsSampler}: the linear multistep method in σ, order 4 (diffusers' LMSDiscrete). */
  LMS("lms", "k-lms", "lms-discrete"),
  /** {@link PndmSampler}: PNDM's pseudo linear multistep steps (PLMS), N + 1 model evaluations. */
  PNDM("pndm", "plms"),
  /** {@link DeisSampler}: DEIS's multistep exponential integrator in log ρ, orders 1-3. */
  DEIS("deis");

  private final String[] aliases;

  SamplerKind(String... aliases) {
    this.aliases = aliases;
  }

  @Override
  public List<String> names() {
    return List.of(aliases);
  }

  /**
   * Whether the sampler is meant for tens of model evaluations, not hundreds (every kind but DDPM
   * and DDIM): what a table of plans over N is sized by.
   */
  public boolean fewSteps() {
    return this != DDPM && this != DDIM;
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
      case DPMPP_SDE -> DpmSolverPlusPlusSampler.sde(steps);
      case DPM_SOLVER -> DpmSolverSampler.of(steps);
      case UNIPC -> UniPcSampler.of(steps);
      case EULER -> EulerSampler.of(steps);
      case EULER_ANCESTRAL -> EulerAncestralSampler.of(steps);
      case HEUN -> HeunSampler.of(steps);
      case LMS -> LmsSampler.of(steps);
      case PNDM -> PndmSampler.of(steps);
      case DEIS -> DeisSampler.of(steps);
    };
  }

  /**
   * Finds a sampler by name or alias.
   *
   * @throws IllegalArgumentException listing the valid names
   */
  public static SamplerKind lookup(String name) {
    return Named.lookup(SamplerKind.class, "sampler", name);
  }

  public static String validNames() {
    return Named.validNames(SamplerKind.class);
  }
}
