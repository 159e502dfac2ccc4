package org.tfdiffusion.sampling;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.primitives.ImmutableDoubleArray;
import com.google.common.primitives.ImmutableIntArray;
import org.tfdiffusion.diffusion.Prediction;

/**
 * A sampler's whole schedule, fixed before the loop runs: for each step i = 0..N-1, the model's
 * timestep t_i, ᾱ at t_i (to turn the model output into x̂_0 and ε̂), and the coefficients of the
 * update, which every sampler here writes as one linear combination:
 *
 * <pre>
 *   x̂_0, ε̂ = convert(model(x_i, t_i))                     (clip x̂_0 to [-r, r] if asked)
 *   x_{i+1} = a_i x_i + b_i x̂_0 + c_i ε̂ + d_i (x̂_0 - x̂_0^{prev}) + s_i z,   z ~ N(0, I)
 * </pre>
 *
 * All coefficients are computed in double precision; the graph gathers them by i. Immutable.
 *
 * @param name the sampler and its settings, for logs and exports
 * @param timesteps t_i, the model's timestep at step i
 * @param alphasCumprod ᾱ_{t_i}
 * @param xCoef a_i
 * @param x0Coef b_i
 * @param epsCoef c_i
 * @param x0DeltaCoef d_i (multistep solvers; the first step has no previous x̂_0)
 * @param noiseCoef s_i (0 where the step is deterministic)
 * @param clipX0 the range r to clip x̂_0 to, or 0 for no clipping
 * @param prediction what the model outputs
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
    double clipX0,
    Prediction prediction) {

  public SamplingPlan {
    int n = timesteps.length();
    checkArgument(n >= 1, "a sampling plan needs at least one step");
    for (ImmutableDoubleArray a :
        new ImmutableDoubleArray[] {
          alphasCumprod, xCoef, x0Coef, epsCoef, x0DeltaCoef, noiseCoef
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
    checkArgument(x0DeltaCoef.get(0) == 0, "%s: the first step cannot use a previous x0", name);
    checkArgument(clipX0 >= 0, "clip range must be >= 0 (0 = off), got %s", clipX0);
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

  /** Whether any step uses the previous x̂_0. */
  public boolean multistep() {
    return x0DeltaCoef.stream().anyMatch(c -> c != 0);
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

    Builder step(int t, double alphaBar, double a, double b, double c, double d, double s) {
      timesteps.add(t);
      alphasCumprod.add(alphaBar);
      x.add(a);
      x0.add(b);
      eps.add(c);
      x0Delta.add(d);
      noise.add(s);
      return this;
    }

    SamplingPlan build(String name, double clipX0, Prediction prediction) {
      return new SamplingPlan(
          name,
          timesteps.build(),
          alphasCumprod.build(),
          x.build(),
          x0.build(),
          eps.build(),
          x0Delta.build(),
          noise.build(),
          clipX0,
          prediction);
    }
  }
}
