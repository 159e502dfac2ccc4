package org.tfdiffusion.sampling;

import com.google.common.primitives.ImmutableDoubleArray;
import java.util.Optional;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tfdiffusion.diffusion.Prediction;

/**
 * One sampling step as a pure graph function: {@code (i, x_i, model output, z, x̂_0^{prev}) →
 * (x_{i+1}, x̂_0)}, with the plan's coefficients as float32 constants gathered by the step index i
 * (see {@link SamplingPlan} for the update). Terms whose coefficients are 0 at every step are not
 * built.
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

  /** The outputs of one step. */
  public record Result(Operand<TFloat32> x, Operand<TFloat32> x0) {}

  /**
   * Applies step i.
   *
   * @param i int32 scalar step index
   * @param x x_i [B, H, W, C]
   * @param output the model output at (x_i, t_i)
   * @param noise z, required when the plan is {@link SamplingPlan#stochastic() stochastic}
   * @param x0Prev the previous step's x̂_0, required when the plan is {@link
   *     SamplingPlan#multistep() multistep} (any value at i = 0, where its weight is 0)
   */
  public Result apply(
      Operand<TInt32> i,
      Operand<TFloat32> x,
      Operand<TFloat32> output,
      Optional<Operand<TFloat32>> noise,
      Optional<Operand<TFloat32>> x0Prev) {
    return apply(i, x, output, noise, x0Prev, Optional.empty());
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
    if (plan.clipX0() > 0) {
      float r = (float) plan.clipX0();
      x0 = tf.clipByValue(x0, tf.constant(-r), tf.constant(r));
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
    if (plan.multistep()) {
      Operand<TFloat32> previous =
          x0Prev.orElseThrow(() -> new IllegalArgumentException("a multistep plan needs x0Prev"));
      next = tf.math.add(next, tf.math.mul(at(x0DeltaCoef, i), tf.math.sub(x0, previous)));
    }
    if (sigma != null) {
      Operand<TFloat32> z =
          noise.orElseThrow(() -> new IllegalArgumentException("a stochastic plan needs noise"));
      next = tf.math.add(next, tf.math.mul(sigma, z));
    }
    return new Result(next, x0);
  }

  private Operand<TFloat32> at(Operand<TFloat32> table, Operand<TInt32> i) {
    return tf.gather(table, i, tf.constant(0));
  }

  private static boolean allZero(ImmutableDoubleArray values) {
    return values.stream().allMatch(v -> v == 0);
  }
}
