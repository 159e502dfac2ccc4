package org.tfdiffusion.sampling;

import com.google.common.primitives.ImmutableDoubleArray;
import java.util.Optional;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tfdiffusion.diffusion.Prediction;

/**
 * One sampling step as a pure graph function: {@code (i, x_i, model output, z, m_{i-1}, m_{i-2},
 * m_{i-3}) → (x_{i+1}, x̂_0, m_i)}, with the plan's coefficients as float32 constants gathered by
 * the step index i (see {@link SamplingPlan} for the update). Terms whose coefficients are 0 at
 * every step are not built.
 *
 * <p>Bound to one {@link Ops} (a graph or a function body).
 */
public final class SamplerStep {
  private final Ops tf;
  private final SamplingPlan plan;
  private final Operand<TInt32> timesteps;
  private final Operand<TFloat32> sqrtAlphaBar;
  private final Operand<TFloat32> sqrtOneMinusAlphaBar;
  private final Operand<TFloat32> xCoef;
  private final Operand<TFloat32> x0Coef;
  private final Operand<TFloat32> epsCoef;
  private final Operand<TFloat32> x0DeltaCoef;
  private final Operand<TFloat32> noiseCoef;
  private final Operand<TFloat32> x0Delta2Coef;
  private final Operand<TFloat32> x0Delta3Coef;
  private final Operand<TBool> keepsHistory;
  private final Optional<Operand<TFloat32>> sigmaUnit;
  private final Optional<Operand<TFloat32>> oneMinusAlphaBarPrev;

  public SamplerStep(Ops tf, SamplingPlan plan) {
    this.tf = tf.withSubScope("sampler");
    this.plan = plan;
    this.timesteps = this.tf.constant(plan.timesteps().toArray());
    this.sqrtAlphaBar = constant(plan.alphasCumprod(), true, false);
    this.sqrtOneMinusAlphaBar = constant(plan.alphasCumprod(), true, true);
    this.xCoef = constant(plan.xCoef(), false, false);
    this.x0Coef = constant(plan.x0Coef(), false, false);
    this.epsCoef = constant(plan.epsCoef(), false, false);
    this.x0DeltaCoef = constant(plan.x0DeltaCoef(), false, false);
    this.noiseCoef = constant(plan.noiseCoef(), false, false);
    this.x0Delta2Coef = constant(plan.x0Delta2Coef(), false, false);
    this.x0Delta3Coef = constant(plan.x0Delta3Coef(), false, false);
    boolean[] keeps = new boolean[plan.steps()];
    for (int k = 0; k < keeps.length; k++) {
      keeps[k] = plan.keepsHistory().get(k) == 1;
    }
    this.keepsHistory = this.tf.constant(keeps);
    this.sigmaUnit = plan.etaTerms().map(e -> constant(e.sigmaUnit(), false, false));
    this.oneMinusAlphaBarPrev =
        plan.etaTerms().map(e -> constant(e.oneMinusAlphaBarPrev(), false, false));
  }

  private Operand<TFloat32> constant(ImmutableDoubleArray values, boolean sqrt, boolean oneMinus) {
    float[] out = new float[values.length()];
    for (int i = 0; i < out.length; i++) {
      double v = oneMinus ? 1 - values.get(i) : values.get(i);
      out[i] = (float) (sqrt ? Math.sqrt(v) : v);
    }
    return tf.constant(out);
  }

  public SamplingPlan plan() {
    return plan;
  }

  /** t_i for a scalar step index i, as an int32 scalar. */
  public Operand<TInt32> timestep(Operand<TInt32> i) {
    return tf.gather(timesteps, i, tf.constant(0));
  }

  /**
   * The outputs of one step.
   *
   * @param x x_{i+1}
   * @param x0 x̂_0 of step i (guarded if the plan guards it)
   * @param history m_i, what the next steps take as their previous model output: x̂_0 or ε̂ as the
   *     plan's {@link SamplingPlan#history() history} says (m_{i-1} where the plan {@link
   *     SamplingPlan#keepsHistory() keeps the history})
   */
  public record Result(Operand<TFloat32> x, Operand<TFloat32> x0, Operand<TFloat32> history) {}

  /**
   * Applies step i.
   *
   * @param i int32 scalar step index
   * @param x x_i [B, H, W, C]
   * @param output the model output at (x_i, t_i)
   * @param noise z, required when the plan is {@link SamplingPlan#stochastic() stochastic}
   * @param x0Prev m_{i-1}, the previous step's {@link Result#history()}, required when the plan is
   *     {@link SamplingPlan#multistep() multistep} (any value at i = 0, where its weight is 0)
   */
  public Result apply(
      Operand<TInt32> i,
      Operand<TFloat32> x,
      Operand<TFloat32> output,
      Optional<Operand<TFloat32>> noise,
      Optional<Operand<TFloat32>> x0Prev) {
    return apply(i, x, output, noise, x0Prev, Optional.empty(), Optional.empty());
  }

  /**
   * Applies step i with DDIM's η given at run time (a float32 scalar): {@code s_i = η σ_i} and
   * {@code c_i = √max(1 - ᾱ_prev,i - s_i², 0)} replace the plan's fixed c_i and s_i. Needs a plan
   * with {@link SamplingPlan#etaTerms() eta terms} and noise.
   */
  public Result apply(
      Operand<TInt32> i,
      Operand<TFloat32> x,
      Operand<TFloat32> output,
      Optional<Operand<TFloat32>> noise,
      Optional<Operand<TFloat32>> x0Prev,
      Optional<Operand<TFloat32>> eta) {
    return apply(i, x, output, noise, x0Prev, Optional.empty(), eta);
  }

  /**
   * Applies step i with the history two steps deep: {@code x0Prev2} is m_{i-2}, required when the
   * plan has a {@link SamplingPlan#deepHistory() deep history} (any value at i &lt; 2).
   */
  public Result apply(
      Operand<TInt32> i,
      Operand<TFloat32> x,
      Operand<TFloat32> output,
      Optional<Operand<TFloat32>> noise,
      Optional<Operand<TFloat32>> x0Prev,
      Optional<Operand<TFloat32>> x0Prev2,
      Optional<Operand<TFloat32>> eta) {
    return apply(i, x, output, noise, x0Prev, x0Prev2, Optional.empty(), eta);
  }

  /**
   * Applies step i with the history three steps deep: {@code x0Prev3} is m_{i-3}, required when the
   * plan has a {@link SamplingPlan#deeperHistory() deeper history} (any value at i &lt; 3).
   */
  public Result apply(
      Operand<TInt32> i,
      Operand<TFloat32> x,
      Operand<TFloat32> output,
      Optional<Operand<TFloat32>> noise,
      Optional<Operand<TFloat32>> x0Prev,
      Optional<Operand<TFloat32>> x0Prev2,
      Optional<Operand<TFloat32>> x0Prev3,
      Optional<Operand<TFloat32>> eta) {
    if (eta.isPresent() && sigmaUnit.isEmpty()) {
      throw new IllegalArgumentException(plan.name() + " does not take eta at run time");
    }
    Operand<TFloat32> sqrtAb = at(sqrtAlphaBar, i);
    Operand<TFloat32> sqrtOneMinusAb = at(sqrtOneMinusAlphaBar, i);
    // x̂_0 and ε̂ from the model output
    Operand<TFloat32> x0;
    Operand<TFloat32> eps;
    Prediction prediction = plan.prediction();
    switch (prediction) {
      case EPSILON -> {
        eps = output;
        x0 = tf.math.div(tf.math.sub(x, tf.math.mul(sqrtOneMinusAb, output)), sqrtAb);
      }
      case SAMPLE -> {
        x0 = output;
        eps = tf.math.div(tf.math.sub(x, tf.math.mul(sqrtAb, output)), sqrtOneMinusAb);
      }
      case V_PREDICTION -> {
        x0 = tf.math.sub(tf.math.mul(sqrtAb, x), tf.math.mul(sqrtOneMinusAb, output));
        eps = tf.math.add(tf.math.mul(sqrtOneMinusAb, x), tf.math.mul(sqrtAb, output));
      }
      default -> throw new IllegalStateException("unknown prediction " + prediction);
    }
    X0Guard guard = plan.x0Guard();
    if (guard.active()) {
      x0 = guard(tf, guard, x0);
      if (guard.recomputeEps()) {
        // ε̂ = (x_t - √ᾱ_t x̂_0) / √(1 - ᾱ_t), consistent with the guarded x̂_0
        eps = tf.math.div(tf.math.sub(x, tf.math.mul(sqrtAb, x0)), sqrtOneMinusAb);
      }
    }
    Operand<TFloat32> next = tf.math.mul(at(xCoef, i), x);
    if (!allZero(plan.x0Coef())) {
      next = tf.math.add(next, tf.math.mul(at(x0Coef, i), x0));
    }
    Operand<TFloat32> c = plan.usesEps() ? at(epsCoef, i) : null;
    Operand<TFloat32> sigma = plan.stochastic() ? at(noiseCoef, i) : null;
    if (eta.isPresent()) {
      sigma = tf.math.mul(eta.get(), at(sigmaUnit.get(), i));
      c =
          tf.math.sqrt(
              tf.math.maximum(
                  tf.math.sub(at(oneMinusAlphaBarPrev.get(), i), tf.math.square(sigma)),
                  tf.constant(0f)));
    }
    if (c != null) {
      next = tf.math.add(next, tf.math.mul(c, eps));
    }
    Operand<TFloat32> m = plan.history() == SamplingPlan.History.EPS ? eps : x0;
    Operand<TFloat32> passedOn = m;
    if (plan.multistep()) {
      Operand<TFloat32> previous =
          x0Prev.orElseThrow(() -> new IllegalArgumentException("a multistep plan needs x0Prev"));
      if (plan.keepsAnyHistory()) {
        // m_{i-1} in place of m_i where the plan keeps the history
        passedOn = tf.select(tf.gather(keepsHistory, i, tf.constant(0)), previous, m);
      }
      next = tf.math.add(next, tf.math.mul(at(x0DeltaCoef, i), tf.math.sub(m, previous)));
      if (plan.deepHistory()) {
        Operand<TFloat32> twoBack =
            x0Prev2.orElseThrow(
                () -> new IllegalArgumentException("a plan with a deep history needs x0Prev2"));
        next = tf.math.add(next, tf.math.mul(at(x0Delta2Coef, i), tf.math.sub(previous, twoBack)));
        if (plan.deeperHistory()) {
          Operand<TFloat32> threeBack =
              x0Prev3.orElseThrow(
                  () -> new IllegalArgumentException("a plan with a deeper history needs x0Prev3"));
          next =
              tf.math.add(next, tf.math.mul(at(x0Delta3Coef, i), tf.math.sub(twoBack, threeBack)));
        }
      }
    }
    if (sigma != null) {
      Operand<TFloat32> z =
          noise.orElseThrow(() -> new IllegalArgumentException("a stochastic plan needs noise"));
      next = tf.math.add(next, tf.math.mul(sigma, z));
    }
    return new Result(next, x0, passedOn);
  }

  /**
   * x̂_0 with the guard applied (see {@link X0Guard}): clipping, or dynamic thresholding per image
   * (the first axis) over all its other elements. The quantile interpolates linearly between the
   * order statistics at p·(n - 1), as {@code torch.quantile}; only the top n - ⌊p·(n - 1)⌋ values
   * of |x̂_0| are sorted.
   */
  public static Operand<TFloat32> guard(Ops tf, X0Guard guard, Operand<TFloat32> x0) {
    return switch (guard.kind()) {
      case NONE -> x0;
      case CLIP -> {
        float r = (float) guard.range();
        yield tf.clipByValue(x0, tf.constant(-r), tf.constant(r));
      }
      case DYNAMIC -> {
        Operand<TInt32> batch = tf.gather(tf.shape(x0), tf.constant(0), tf.constant(0));
        Operand<TInt32> flat = tf.stack(java.util.List.of(batch, tf.constant(-1)));
        Operand<TFloat32> abs = tf.math.abs(tf.reshape(x0, flat));
        Operand<TInt32> n = tf.gather(tf.shape(abs), tf.constant(1), tf.constant(0));
        // ascending order statistics lo = ⌊p (n - 1)⌋ and lo + 1 (capped at n - 1)
        Operand<TFloat32> position =
            tf.math.mul(
                tf.constant((float) guard.ratio()),
                tf.dtypes.cast(tf.math.sub(n, tf.constant(1)), TFloat32.class));
        Operand<TFloat32> lowPosition = tf.math.floor(position);
        Operand<TFloat32> fraction = tf.math.sub(position, lowPosition);
        Operand<TInt32> lo = tf.dtypes.cast(lowPosition, TInt32.class);
        // the top k = n - lo values, descending: ascending index lo is k - 1, lo + 1 is k - 2
        Operand<TInt32> k = tf.math.sub(n, lo);
        Operand<TFloat32> top =
            tf.nn.topK(abs, k, new org.tensorflow.op.nn.TopK.Options[0]).values();
        Operand<TInt32> loIndex = tf.math.sub(k, tf.constant(1));
        Operand<TInt32> hiIndex = tf.math.maximum(tf.math.sub(k, tf.constant(2)), tf.constant(0));
        Operand<TFloat32> low = tf.gather(top, loIndex, tf.constant(1));
        Operand<TFloat32> high = tf.gather(top, hiIndex, tf.constant(1));
        Operand<TFloat32> s =
            tf.math.add(low, tf.math.mul(fraction, tf.math.sub(high, low))); // [B]
        s = tf.math.maximum(s, tf.constant(1f));
        if (!Double.isInfinite(guard.range())) {
          s = tf.math.minimum(s, tf.constant((float) guard.range()));
        }
        // s as [B, 1, ..., 1] to broadcast over the image
        Operand<TInt32> ones =
            tf.fill(
                tf.reshape(tf.math.sub(tf.rank(x0), tf.constant(1)), tf.constant(new int[] {1})),
                tf.constant(1));
        Operand<TFloat32> scale =
            tf.reshape(
                s,
                tf.concat(
                    java.util.List.of(tf.reshape(batch, tf.constant(new int[] {1})), ones),
                    tf.constant(0)));
        // ClipByValue takes no broadcasting bounds: max and min do
        yield tf.math.div(tf.math.minimum(tf.math.maximum(x0, tf.math.neg(scale)), scale), scale);
      }
    };
  }

  private Operand<TFloat32> at(Operand<TFloat32> table, Operand<TInt32> i) {
    return tf.gather(table, i, tf.constant(0));
  }

  private static boolean allZero(ImmutableDoubleArray values) {
    return values.stream().allMatch(v -> v == 0);
  }
}
