package org.tfdiffusion.optim;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import com.google.common.collect.ImmutableMap;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * An exponential moving average of the weights, the weights that samples and exports use:
 *
 * <pre>
 *   d_n  = min(decay, (1 + n) / (10 + n))      with warm-up (TensorFlow's num_updates form)
 *   d_n  = decay                               without
 *   d_n  = (1 - 1/n)^(γ + 1)                   the power function of exponent γ
 *   ema ← d_n · ema + (1 - d_n) · θ            after each optimizer step n = 1, 2, ...
 * </pre>
 *
 * The power function (Karras et al. 2024, "Analyzing and Improving the Training Dynamics of
 * Diffusion Models", section 3.1) has no fixed length: at step n the average weighs the weights of
 * step k in proportion to k^γ, so it forgets the random start at any run length and its width
 * relative to the run, σ_rel = √(γ + 1) / ((γ + 2) √(γ + 3)), stays the same (γ = 6.94 gives σ_rel
 * 0.10, γ = 16.97 gives 0.05). d_1 = 0: the average starts at the weights of the first step.
 *
 * <p>Shadow variables are named {@code ema/<weight>} and start equal to the weights' initial
 * values. With decay 0 the average is the weights themselves (d_n = 0 at every step, warm-up or
 * not): no shadows are kept, which saves a copy of the weights, and the weights stand in for them.
 */
public final class ExponentialMovingAverage {
  /** The warm-up's constants: d_n = (1 + n) / (WARMUP_OFFSET + n). */
  public static final double WARMUP_OFFSET = 10.0;

  private final Ops tf;
  private final Ops shadowScope;
  private final double decay;
  private final boolean warmup;
  private final double power;
  private final Map<String, Variable<TFloat32>> shadows = new LinkedHashMap<>();

  /**
   * @param decay the long-run decay in [0, 1)
   * @param warmup whether early steps use the smaller (1 + n) / (10 + n)
   */
  public ExponentialMovingAverage(Ops tf, double decay, boolean warmup) {
    this(tf, decay, warmup, 0);
  }

  private ExponentialMovingAverage(Ops tf, double decay, boolean warmup, double power) {
    checkArgument(decay >= 0 && decay < 1, "EMA decay must be in [0, 1), got %s", decay);
    checkArgument(
        power == 0 || (power > 0 && Double.isFinite(power)),
        "EMA power must be > 0 (0 = a fixed decay), got %s",
        power);
    this.tf = tf;
    this.shadowScope = tf.withSubScope("ema");
    this.decay = decay;
    this.warmup = warmup;
    this.power = power;
  }

  /**
   * The power-function average of exponent γ: d_n = (1 - 1/n)^(γ + 1).
   *
   * @param gamma γ &gt; 0; larger is a narrower average (γ = 6.94 averages over the last tenth or
   *     so of the run, σ_rel = 0.10)
   */
  public static ExponentialMovingAverage power(Ops tf, double gamma) {
    checkArgument(gamma > 0 && Double.isFinite(gamma), "EMA power must be > 0, got %s", gamma);
    return new ExponentialMovingAverage(tf, 0, false, gamma);
  }

  /** The decay at update n (1-based) in double precision, the formula above. */
  public static double decayAt(double decay, boolean warmup, long n) {
    return warmup ? Math.min(decay, (1.0 + n) / (WARMUP_OFFSET + n)) : decay;
  }

  /** The power function's decay at update n (1-based) in double precision: (1 - 1/n)^(γ + 1). */
  public static double powerDecayAt(double gamma, long n) {
    return Math.pow(1.0 - 1.0 / n, gamma + 1.0);
  }

  /**
   * The relative width σ_rel of the power function's average of exponent γ (Karras et al. 2024, eq.
   * 3): the standard deviation of its profile divided by the step it is taken at.
   */
  public static double sigmaRel(double gamma) {
    return Math.sqrt(gamma + 1) / ((gamma + 2) * Math.sqrt(gamma + 3));
  }

  /**
   * False for a fixed decay of 0, whose average is the weights themselves: {@link #track} keeps
   * nothing.
   */
  public boolean keepsShadows() {
    return decay > 0 || power > 0;
  }

  /**
   * Creates the shadow of a weight.
   *
   * @param initialValue the weight's initial value (an init-scope operand, so the shadow starts
   *     equal to the weight without reading it before it is initialised)
   */
  public Variable<TFloat32> track(String name, Operand<TFloat32> initialValue) {
    checkState(keepsShadows(), "an EMA of decay 0 is the weights themselves and keeps no shadow");
    checkArgument(!shadows.containsKey(name), "weight %s is already tracked", name);
    Variable<TFloat32> shadow = shadowScope.withName(name).variable(initialValue);
    shadows.put(name, shadow);
    return shadow;
  }

  /**
   * The update op: every tracked shadow moves towards its weight.
   *
   * @param weights the weights, keyed by the names given to {@link #track}
   * @param n int64 scalar, the 1-based number of this update
   * @param after ops that must finish first (the optimizer step that moved the weights)
   */
  public Op update(
      Map<String, ? extends Operand<TFloat32>> weights, Operand<TInt64> n, List<Op> after) {
    Ops ops = tf.withSubScope("ema_update").withControlDependencies(after);
    Operand<TFloat32> d = ops.constant((float) decay);
    if (power > 0) {
      Operand<TFloat32> nf = ops.dtypes.cast(n, TFloat32.class);
      d =
          ops.math.pow(
              ops.math.sub(ops.constant(1f), ops.math.reciprocal(nf)),
              ops.constant((float) (power + 1)));
    } else if (warmup) {
      Operand<TFloat32> nf = ops.dtypes.cast(n, TFloat32.class);
      d =
          ops.math.minimum(
              d,
              ops.math.div(
                  ops.math.add(ops.constant(1f), nf),
                  ops.math.add(ops.constant((float) WARMUP_OFFSET), nf)));
    }
    Operand<TFloat32> oneMinusD = ops.math.sub(ops.constant(1f), d);
    List<Op> updates = new ArrayList<>();
    for (Map.Entry<String, Variable<TFloat32>> e : shadows.entrySet()) {
      Operand<TFloat32> weight = weights.get(e.getKey());
      checkArgument(weight != null, "no weight %s for its EMA shadow", e.getKey());
      // ema - (1 - d)(ema - θ) = d·ema + (1 - d)·θ, in one fused kernel
      updates.add(
          ops.train.applyGradientDescent(
              e.getValue(), oneMinusD, ops.math.sub(e.getValue(), weight)));
    }
    return ops.withControlDependencies(updates).noOp();
  }

  /** The shadow variables, keyed by weight name; none for decay 0. */
  public ImmutableMap<String, Variable<TFloat32>> shadows() {
    return ImmutableMap.copyOf(shadows);
  }

  /**
   * The variables that hold the average, keyed by weight name: the shadows, or for decay 0 the
   * {@code weights} themselves.
   */
  public ImmutableMap<String, Variable<TFloat32>> averages(
      Map<String, Variable<TFloat32>> weights) {
    return keepsShadows() ? shadows() : ImmutableMap.copyOf(weights);
  }

  public double decay() {
    return decay;
  }

  public boolean warmup() {
    return warmup;
  }

  /** The power function's exponent γ, or 0 for a fixed decay. */
  public double power() {
    return power;
  }
}
