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
 *   x_{i+1} = a_i x_i + b_i x̂_0 + c_i ε̂ + d_i (m_i - m_{i-1}) + e_i (m_{i-1} - m_{i-2})
 *             + f_i (m_{i-2} - m_{i-3}) + s_i z
 * </pre>
 *
 * with z ~ N(0, I) and m_j the history quantity of step j: x̂_0 for the data-prediction solvers
 * (DPM-Solver++, UniPC, Heun's correction) or ε̂ for the noise-prediction ones (DPM-Solver, LMS,
 * PLMS, DEIS), as {@link History} says. d_i, e_i and f_i are the multistep terms: second-order
 * solvers use d only, third-order ones (and UniPC's corrector) e as well, fourth-order ones (LMS,
 * PLMS) f too. A loop that restarts the history (a start at a later step, a path that jumps) takes
 * a step with no earlier m at first order (d = e = f = 0), a step with one earlier m with {@code
 * dRestart_i} in place of d_i and e = f = 0, and a step with two earlier m with {@code dRestart2_i,
 * eRestart2_i} in place of d_i, e_i and f = 0 (the solver's order where only that many earlier
 * model outputs are known; for solvers without f these are d_i and e_i). A step that {@link
 * #keepsHistory keeps the history} passes m_{i-1} on as its own m (PNDM's Heun step, whose ε̂ the
 * later steps do not use).
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
 * @param x0Delta3Coef f_i (0 at the first three steps, which have no m_{i-3})
 * @param x0DeltaRestart2Coef dRestart2_i, d_i when the history holds only m_{i-1} and m_{i-2}
 * @param x0Delta2Restart2Coef eRestart2_i, e_i when the history holds only m_{i-1} and m_{i-2}
 * @param keepsHistory 1 where step i's m is m_{i-1} rather than its own, else 0 (never at the first
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
    ImmutableDoubleArray x0Delta3Coef,
    ImmutableDoubleArray x0DeltaRestart2Coef,
    ImmutableDoubleArray x0Delta2Restart2Coef,
    ImmutableIntArray keepsHistory,
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
          x0DeltaRestartCoef,
          x0Delta3Coef,
          x0DeltaRestart2Coef,
          x0Delta2Restart2Coef
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
        x0DeltaCoef.get(0) == 0
            && x0DeltaRestartCoef.get(0) == 0
            && x0Delta2Coef.get(0) == 0
            && x0Delta3Coef.get(0) == 0
            && x0DeltaRestart2Coef.get(0) == 0
            && x0Delta2Restart2Coef.get(0) == 0,
        "%s: the first step cannot use a previous model output",
        name);
    checkArgument(
        n < 2
            || (x0Delta2Coef.get(1) == 0
                && x0Delta3Coef.get(1) == 0
                && x0Delta2Restart2Coef.get(1) == 0),
        "%s: the second step has only one earlier output",
        name);
    checkArgument(
        n < 3 || x0Delta3Coef.get(2) == 0, "%s: the third step has only two earlier outputs", name);
    checkArgument(
        keepsHistory.length() == n && keepsHistory.stream().allMatch(k -> k == 0 || k == 1),
        "%s: keepsHistory needs %s entries of 0 or 1",
        name,
        n);
    checkArgument(keepsHistory.get(0) == 0, "%s: the first step has no history to keep", name);
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
        b.deepHistory(
            p.x0Delta3Coef().get(i),
            p.x0DeltaRestart2Coef().get(i),
            p.x0Delta2Restart2Coef().get(i));
        if (i > 0 && p.keepsHistory().get(i) == 1) {
          b.keepHistory();
        }
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
   * on from the step before ({@code k = 0}, or {@code path[k] != path[k-1] + 1}): there d = e = f =
   * 0 and the step uses no previous model output (first order for DPM-Solver++); the step after a
   * reset knows one earlier output and takes dRestart for d and e = f = 0, the one after that two
   * and takes dRestart2, eRestart2 for d, e and f = 0.
   *
   * @param name the result's name
   * @param path indices into this plan's steps, each in [0, N)
   * @throws IllegalArgumentException for an empty path or an index outside [0, N)
   */
  public SamplingPlan onPath(String name, int... path) {
    checkArgument(path.length >= 1, "%s: a path needs at least one step", this.name);
    Builder b = new Builder();
    int known = 0;
    for (int k = 0; k < path.length; k++) {
      int i = path[k];
      checkArgument(
          i >= 0 && i < steps(),
          "%s: path entry %s is step %s, outside [0, %s)",
          this.name,
          k,
          i,
          steps());
      // the earlier model outputs of this path that the history holds, at most 3
      known = k > 0 && path[k - 1] == i - 1 ? Math.min(known + 1, 3) : 0;
      double d =
          switch (known) {
            case 0 -> 0;
            case 1 -> x0DeltaRestartCoef.get(i);
            case 2 -> x0DeltaRestart2Coef.get(i);
            default -> x0DeltaCoef.get(i);
          };
      double e =
          switch (known) {
            case 0, 1 -> 0;
            case 2 -> x0Delta2Restart2Coef.get(i);
            default -> x0Delta2Coef.get(i);
          };
      b.step(
          timesteps.get(i),
          alphasCumprod.get(i),
          xCoef.get(i),
          x0Coef.get(i),
          epsCoef.get(i),
          d,
          noiseCoef.get(i));
      b.history(e, known >= 1 ? x0DeltaRestartCoef.get(i) : 0);
      b.deepHistory(
          known >= 3 ? x0Delta3Coef.get(i) : 0,
          known >= 2 ? x0DeltaRestart2Coef.get(i) : 0,
          known >= 2 ? x0Delta2Restart2Coef.get(i) : 0);
      if (known >= 1 && keepsHistory.get(i) == 1) {
        b.keepHistory();
      }
      etaTerms.ifPresent(t -> b.eta(t.sigmaUnit().get(i), t.oneMinusAlphaBarPrev().get(i)));
    }
    return b.build(name, x0Guard, prediction, history);
  }

  /**
   * Whether this plan's last {@code tail.steps()} steps are exactly {@code tail}'s steps: every
   * timestep, coefficient, history flag and η term the same, and the same x̂_0 guard, prediction
   * and history. A loop over those steps of this plan is then {@code tail}'s loop.
   */
  public boolean endsWith(SamplingPlan tail) {
    int m = tail.steps();
    int from = steps() - m;
    if (from < 0
        || !x0Guard.equals(tail.x0Guard)
        || prediction != tail.prediction
        || history != tail.history
        || etaTerms.isPresent() != tail.etaTerms.isPresent()) {
      return false;
    }
    // from the last step back: plans of other strides differ early
    for (int i = m - 1; i >= 0; i--) {
      int j = from + i;
      if (timesteps.get(j) != tail.timesteps.get(i)
          || keepsHistory.get(j) != tail.keepsHistory.get(i)
          || !same(alphasCumprod, j, tail.alphasCumprod, i)
          || !same(xCoef, j, tail.xCoef, i)
          || !same(x0Coef, j, tail.x0Coef, i)
          || !same(epsCoef, j, tail.epsCoef, i)
          || !same(x0DeltaCoef, j, tail.x0DeltaCoef, i)
          || !same(noiseCoef, j, tail.noiseCoef, i)
          || !same(x0Delta2Coef, j, tail.x0Delta2Coef, i)
          || !same(x0DeltaRestartCoef, j, tail.x0DeltaRestartCoef, i)
          || !same(x0Delta3Coef, j, tail.x0Delta3Coef, i)
          || !same(x0DeltaRestart2Coef, j, tail.x0DeltaRestart2Coef, i)
          || !same(x0Delta2Restart2Coef, j, tail.x0Delta2Restart2Coef, i)) {
        return false;
      }
      if (etaTerms.isPresent()
          && (!same(etaTerms.get().sigmaUnit(), j, tail.etaTerms.get().sigmaUnit(), i)
              || !same(
                  etaTerms.get().oneMinusAlphaBarPrev(),
                  j,
                  tail.etaTerms.get().oneMinusAlphaBarPrev(),
                  i))) {
        return false;
      }
    }
    return true;
  }

  private static boolean same(ImmutableDoubleArray a, int i, ImmutableDoubleArray b, int j) {
    return Double.compare(a.get(i), b.get(j)) == 0;
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
        || keepsAnyHistory()
        || deepHistory();
  }

  /** Whether any step uses m_{i-2} as well (third-order solvers, UniPC's corrector). */
  public boolean deepHistory() {
    return x0Delta2Coef.stream().anyMatch(c -> c != 0)
        || x0Delta2Restart2Coef.stream().anyMatch(c -> c != 0)
        || deeperHistory();
  }

  /** Whether any step passes the m of the step before on as its own. */
  public boolean keepsAnyHistory() {
    return keepsHistory.stream().anyMatch(k -> k == 1);
  }

  /** Whether any step uses m_{i-3} as well (fourth-order solvers: LMS, PLMS). */
  public boolean deeperHistory() {
    return x0Delta3Coef.stream().anyMatch(c -> c != 0);
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
    private final ImmutableDoubleArray.Builder x0Delta3 = ImmutableDoubleArray.builder();
    private final ImmutableDoubleArray.Builder x0DeltaRestart2 = ImmutableDoubleArray.builder();
    private final ImmutableDoubleArray.Builder x0Delta2Restart2 = ImmutableDoubleArray.builder();
    private final ImmutableIntArray.Builder keeps = ImmutableIntArray.builder();
    // the history terms of the last step, added to their arrays when the next step starts
    private boolean pending;
    private double pendingD;
    private double pendingE;
    private double pendingRestart;
    private boolean pendingDeep;
    private double pendingF;
    private double pendingRestart2;
    private double pendingRestart2E;
    private boolean pendingKeep;
    private final ImmutableDoubleArray.Builder sigmaUnit = ImmutableDoubleArray.builder();
    private final ImmutableDoubleArray.Builder oneMinusAlphaBarPrev =
        ImmutableDoubleArray.builder();
    private boolean eta;

    /**
     * Adds a step whose multistep term is d (m_i - m_{i-1}) alone, also after a restart; {@link
     * #history} may follow to give e and dRestart, {@link #deepHistory} f, dRestart2 and eRestart2.
     */
    Builder step(int t, double alphaBar, double a, double b, double c, double d, double s) {
      flushHistory();
      pending = true;
      pendingD = d;
      pendingE = 0;
      pendingRestart = d;
      pendingDeep = false;
      pendingKeep = false;
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

    /**
     * f, dRestart2 and eRestart2 of the step just added (without this call: f = 0 and the step with
     * two earlier outputs takes d and e).
     */
    Builder deepHistory(double f, double dRestart2, double eRestart2) {
      pendingDeep = true;
      pendingF = f;
      pendingRestart2 = dRestart2;
      pendingRestart2E = eRestart2;
      return this;
    }

    /** The step just added passes m_{i-1} on as its own m. */
    Builder keepHistory() {
      pendingKeep = true;
      return this;
    }

    private void flushHistory() {
      if (pending) {
        keeps.add(pendingKeep ? 1 : 0);
        x0Delta2.add(pendingE);
        x0DeltaRestart.add(pendingRestart);
        x0Delta3.add(pendingDeep ? pendingF : 0);
        x0DeltaRestart2.add(pendingDeep ? pendingRestart2 : pendingD);
        x0Delta2Restart2.add(pendingDeep ? pendingRestart2E : pendingE);
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
          x0Delta3.build(),
          x0DeltaRestart2.build(),
          x0Delta2Restart2.build(),
          keeps.build(),
          history,
          x0Guard,
          prediction,
          terms);
    }
  }
}
