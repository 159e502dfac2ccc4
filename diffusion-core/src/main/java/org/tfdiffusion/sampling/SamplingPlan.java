package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.primitives.ImmutableDoubleArray;
import com.google.common.primitives.ImmutableIntArray;
import java.util.Optional;
import org.tfdiffusion.diffusion.Prediction;

/**
 * A sampler's whole schedule, fixed before the loop runs: for each step i = 0..N-1, the model's
 * timestep t_i, ᾱ at t_i (to turn the model output into x̂_0 and ε̂), and the coefficients of the
 * update, which every sampler here writes as one linear combination:
 *
 * <pre>
 *   x̂_0, ε̂ = convert(model(x_i, t_i))                     (x̂_0 guarded if asked: X0Guard)
 *   x_{i+1} = a_i x_i + b_i x̂_0 + c_i ε̂ + d_i (m_i - m_{i-1}) + e_i (m_{i-1} - m_{i-2}) + s_i z
 * </pre>
 *
 * with z ~ N(0, I) and m_j the history quantity of step j: x̂_0 for the data-prediction solvers
 * (DPM-Solver++, UniPC, Heun's correction) or ε̂ for the noise-prediction ones (DPM-Solver), as
 * {@link History} says. d_i and e_i are the multistep terms: second-order solvers use d only,
 * third-order ones (and UniPC's corrector) e as well. A loop that restarts the history (a start at
 * a later step, a path that jumps) takes a step with no earlier m at first order (d = e = 0) and a
 * step with one earlier m with {@code dRestart_i} in place of d_i and e = 0 (the solver's order
 * where only one earlier model output is known).
 *
 * <p>All coefficients are computed in double precision; the graph gathers them by i. Immutable.
 *
 * @param name the sampler and its settings, for logs and exports
 * @param timesteps t_i, the model's timestep at step i
 * @param alphasCumprod ᾱ_{t_i}
 * @param xCoef a_i
 * @param x0Coef b_i
 * @param epsCoef c_i
 * @param x0DeltaCoef d_i (multistep solvers; the first step has no previous m)
 * @param noiseCoef s_i (0 where the step is deterministic)
 * @param x0Delta2Coef e_i (0 at the first two steps, which have no m_{i-2})
 * @param x0DeltaRestartCoef dRestart_i, d_i when the history holds only m_{i-1} (0 at the first
 *     step)
 * @param history what m is
 * @param x0Guard what is done to x̂_0 before the update (clipping, dynamic thresholding or none)
 * @param prediction what the model outputs
 * @param etaTerms for DDIM: what lets η be chosen at run time (c_i and s_i are then computed from
 *     it in the graph)
 */
public record SamplingPlan(
    String name,
    ImmutableIntArray timesteps,
    ImmutableDoubleArray alphasCumprod,
    ImmutableDoubleArray xCoef,
    ImmutableDoubleArray x0Coef,
    ImmutableDoubleArray epsCoef,
    ImmutableDoubleArray x0DeltaCoef,
    ImmutableDoubleArray noiseCoef,
    ImmutableDoubleArray x0Delta2Coef,
    ImmutableDoubleArray x0DeltaRestartCoef,
    History history,
    X0Guard x0Guard,
    Prediction prediction,
    Optional<EtaTerms> etaTerms) {

  /** What the multistep terms difference. */
  public enum History {
    /** m = x̂_0, the data prediction. */
    X0,
    /** m = ε̂, the noise prediction. */
    EPS
  }

  /**
   * DDIM's coefficients as functions of η: s_i = η σ_i, c_i = √(1 - ᾱ_prev,i - s_i²).
   *
   * @param sigmaUnit σ_i at η = 1
   * @param oneMinusAlphaBarPrev 1 - ᾱ_prev,i
   */
  public record EtaTerms(
      ImmutableDoubleArray sigmaUnit, ImmutableDoubleArray oneMinusAlphaBarPrev) {}

  public SamplingPlan {
    int n = timesteps.length();
    checkArgument(n >= 1, "a sampling plan needs at least one step");
    for (ImmutableDoubleArray a :
        new ImmutableDoubleArray[] {
          alphasCumprod,
          xCoef,
          x0Coef,
          epsCoef,
          x0DeltaCoef,
          noiseCoef,
          x0Delta2Coef,
          x0DeltaRestartCoef
        }) {
      checkArgument(
          a.length() == n, "every coefficient array needs %s entries, got %s", n, a.length());
      for (int i = 0; i < n; i++) {
        checkArgument(
            Double.isFinite(a.get(i)),
            "%s: coefficient %s at step %s is not finite",
            name,
            a.get(i),
            i);
      }
    }
    checkArgument(
        x0DeltaCoef.get(0) == 0 && x0DeltaRestartCoef.get(0) == 0 && x0Delta2Coef.get(0) == 0,
        "%s: the first step cannot use a previous model output",
        name);
    checkArgument(
        n < 2 || x0Delta2Coef.get(1) == 0, "%s: the second step has only one earlier output", name);
    history = history == null ? History.X0 : history;
    x0Guard = x0Guard == null ? X0Guard.none() : x0Guard;
    etaTerms = etaTerms == null ? Optional.empty() : etaTerms;
    etaTerms.ifPresent(
        e ->
            checkArgument(
                e.sigmaUnit().length() == n && e.oneMinusAlphaBarPrev().length() == n,
                "eta terms need %s entries",
                n));
  }

  /**
   * The plans for several step counts laid end to end, so that a graph can choose N at run time:
   * plan k's step i sits at index offsets[k] + i. All plans must share the x̂_0 guard, prediction
   * and the presence of eta terms.
   */
  public static SamplingPlan concat(String name, java.util.List<SamplingPlan> plans) {
    checkArgument(!plans.isEmpty(), "nothing to concatenate");
    SamplingPlan first = plans.get(0);
    Builder b = new Builder();
    boolean eta = first.etaTerms().isPresent();
    for (SamplingPlan p : plans) {
      checkArgument(
          p.x0Guard().equals(first.x0Guard())
              && p.prediction() == first.prediction()
              && p.history() == first.history()
              && p.etaTerms().isPresent() == eta,
          "plans to concatenate must share the x0 guard, prediction, history and eta terms");
      for (int i = 0; i < p.steps(); i++) {
        b.step(
            p.timesteps().get(i),
            p.alphasCumprod().get(i),
            p.xCoef().get(i),
            p.x0Coef().get(i),
            p.epsCoef().get(i),
            p.x0DeltaCoef().get(i),
            p.noiseCoef().get(i));
        b.history(p.x0Delta2Coef().get(i), p.x0DeltaRestartCoef().get(i));
        if (eta) {
          b.eta(
              p.etaTerms().get().sigmaUnit().get(i),
              p.etaTerms().get().oneMinusAlphaBarPrev().get(i));
        }
      }
    }
    return b.build(name, first.x0Guard(), first.prediction(), first.history());
  }

  /**
   * The steps {@code start..N-1} of this plan, for a loop that starts from a given x at step {@code
   * start} (image-to-image, inpainting with a strength below 1). The multistep history is reset:
   * the first step of the cut uses no previous model output (d = e = 0), so DPM-Solver++ takes it
   * at first order, and the second one only that step's (dRestart, e = 0), as diffusers' {@code
   * DPMSolverMultistepScheduler} does when it starts at a later index ({@code set_begin_index}:
   * {@code lower_order_nums} counts from 0 there). Every other coefficient is the full plan's, so
   * each later step is exactly the full plan's step.
   *
   * @param start k, the first step to run, in [0, N); 0 returns this plan
   * @throws IllegalArgumentException if {@code start} is outside [0, N)
   */
  public SamplingPlan startingAt(int start) {
    checkArgument(
        start >= 0 && start < steps(),
        "%s: the start step must be in [0, %s), got %s",
        name,
        steps(),
        start);
    if (start == 0) {
      return this;
    }
    int[] path = new int[steps() - start];
    for (int k = 0; k < path.length; k++) {
      path[k] = start + k;
    }
    return onPath(name + " from step " + start, path);
  }

  /**
   * This plan's steps run in the order {@code path} gives, repeats allowed (RePaint's resampling
   * goes back and runs steps again). Step k of the result is step {@code path[k]} of this plan with
   * all its coefficients, except that the multistep history is reset wherever the path does not go
   * on from the step before ({@code k = 0}, or {@code path[k] != path[k-1] + 1}): there d = e = 0
   * and the step uses no previous model output (first order for DPM-Solver++); the step after a
   * reset knows one earlier output and takes dRestart for d and e = 0.
   *
   * @param name the result's name
   * @param path indices into this plan's steps, each in [0, N)
   * @throws IllegalArgumentException for an empty path or an index outside [0, N)
   */
  public SamplingPlan onPath(String name, int... path) {
    checkArgument(path.length >= 1, "%s: a path needs at least one step", this.name);
    Builder b = new Builder();
    for (int k = 0; k < path.length; k++) {
      int i = path[k];
      checkArgument(
          i >= 0 && i < steps(),
          "%s: path entry %s is step %s, outside [0, %s)",
          this.name,
          k,
          i,
          steps());
      boolean continues = k > 0 && path[k - 1] == i - 1;
      boolean twoEarlier = continues && k > 1 && path[k - 2] == i - 2;
      b.step(
          timesteps.get(i),
          alphasCumprod.get(i),
          xCoef.get(i),
          x0Coef.get(i),
          epsCoef.get(i),
          twoEarlier ? x0DeltaCoef.get(i) : continues ? x0DeltaRestartCoef.get(i) : 0,
          noiseCoef.get(i));
      b.history(twoEarlier ? x0Delta2Coef.get(i) : 0, continues ? x0DeltaRestartCoef.get(i) : 0);
      etaTerms.ifPresent(e -> b.eta(e.sigmaUnit().get(i), e.oneMinusAlphaBarPrev().get(i)));
    }
    return b.build(name, x0Guard, prediction, history);
  }

  /** N, the number of model evaluations. */
  public int steps() {
    return timesteps.length();
  }

  /** Whether any step draws noise (DDPM, DDIM with η &gt; 0). */
  public boolean stochastic() {
    return noiseCoef.stream().anyMatch(s -> s != 0);
  }

  /** Whether any step uses ε̂. */
  public boolean usesEps() {
    return epsCoef.stream().anyMatch(c -> c != 0);
  }

  /** Whether any step uses the previous model output m_{i-1}. */
  public boolean multistep() {
    return x0DeltaCoef.stream().anyMatch(c -> c != 0)
        || x0DeltaRestartCoef.stream().anyMatch(c -> c != 0)
        || deepHistory();
  }

  /** Whether any step uses m_{i-2} as well (third-order solvers, UniPC's corrector). */
  public boolean deepHistory() {
    return x0Delta2Coef.stream().anyMatch(c -> c != 0);
  }

  /** Mutable collector of per-step coefficients for samplers building a plan. */
  static final class Builder {
    private final ImmutableIntArray.Builder timesteps = ImmutableIntArray.builder();
    private final ImmutableDoubleArray.Builder alphasCumprod = ImmutableDoubleArray.builder();
    private final ImmutableDoubleArray.Builder x = ImmutableDoubleArray.builder();
    private final ImmutableDoubleArray.Builder x0 = ImmutableDoubleArray.builder();
    private final ImmutableDoubleArray.Builder eps = ImmutableDoubleArray.builder();
    private final ImmutableDoubleArray.Builder x0Delta = ImmutableDoubleArray.builder();
    private final ImmutableDoubleArray.Builder noise = ImmutableDoubleArray.builder();
    private final ImmutableDoubleArray.Builder x0Delta2 = ImmutableDoubleArray.builder();
    private final ImmutableDoubleArray.Builder x0DeltaRestart = ImmutableDoubleArray.builder();
    // e and dRestart of the last step, added to their arrays when the next step starts
    private boolean pending;
    private double pendingE;
    private double pendingRestart;
    private final ImmutableDoubleArray.Builder sigmaUnit = ImmutableDoubleArray.builder();
    private final ImmutableDoubleArray.Builder oneMinusAlphaBarPrev =
        ImmutableDoubleArray.builder();
    private boolean eta;

    /**
     * Adds a step whose multistep term is d (m_i - m_{i-1}) alone, also after a restart; {@link
     * #history} may follow to give e and dRestart.
     */
    Builder step(int t, double alphaBar, double a, double b, double c, double d, double s) {
      flushHistory();
      pending = true;
      pendingE = 0;
      pendingRestart = d;
      timesteps.add(t);
      alphasCumprod.add(alphaBar);
      x.add(a);
      x0.add(b);
      eps.add(c);
      x0Delta.add(d);
      noise.add(s);
      return this;
    }

    /** e and dRestart of the step just added. */
    Builder history(double e, double dRestart) {
      pendingE = e;
      pendingRestart = dRestart;
      return this;
    }

    private void flushHistory() {
      if (pending) {
        x0Delta2.add(pendingE);
        x0DeltaRestart.add(pendingRestart);
        pending = false;
      }
    }

    /** DDIM's η-independent terms of the step just added. */
    Builder eta(double sigmaAtEtaOne, double oneMinusAbPrev) {
      eta = true;
      sigmaUnit.add(sigmaAtEtaOne);
      oneMinusAlphaBarPrev.add(oneMinusAbPrev);
      return this;
    }

    SamplingPlan build(String name, X0Guard x0Guard, Prediction prediction) {
      return build(name, x0Guard, prediction, History.X0);
    }

    SamplingPlan build(String name, X0Guard x0Guard, Prediction prediction, History history) {
      flushHistory();
      Optional<EtaTerms> terms =
          eta
              ? Optional.of(new EtaTerms(sigmaUnit.build(), oneMinusAlphaBarPrev.build()))
              : Optional.empty();
      return new SamplingPlan(
          name,
          timesteps.build(),
          alphasCumprod.build(),
          x.build(),
          x0.build(),
          eps.build(),
          x0Delta.build(),
          noise.build(),
          x0Delta2.build(),
          x0DeltaRestart.build(),
          history,
          x0Guard,
          prediction,
          terms);
    }
  }
}
