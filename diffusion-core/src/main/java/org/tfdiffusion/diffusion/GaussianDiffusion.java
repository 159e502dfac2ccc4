package org.tfdiffusion.diffusion;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.schedule.Coefficient;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.schedule.ScheduleTensors;

/**
 * The DDPM forward process and its training objective in one graph (Ho et al. 2020), method names
 * as in the paper's code: {@code q_sample}, {@code q_posterior}, {@code p_losses}.
 *
 * <pre>
 *   q(x_t | x_0)            = N(√ᾱ_t x_0, (1 - ᾱ_t) I)
 *   q(x_{t-1} | x_t, x_0)   = N(coef1_t x_0 + coef2_t x_t, β̃_t I)
 *   x_0 = √(1/ᾱ_t) x_t - √(1/ᾱ_t - 1) ε                  (from ε)
 *   v   = √ᾱ_t ε - √(1-ᾱ_t) x_0;   x_0 = √ᾱ_t x_t - √(1-ᾱ_t) v;   ε = √(1-ᾱ_t) x_t + √ᾱ_t v
 *   L   = E_{t, x_0, ε} w_t ||target - model(x_t, t)||²,  target ∈ {ε, x_0, v}
 *         (w_t = 1, or Min-SNR-γ: see LossWeighting)
 * </pre>
 *
 * Timestep arguments are int32 [B] with values in [0, T); all per-timestep coefficients come from
 * {@link ScheduleTensors} and broadcast over [B, H, W, C].
 */
public final class GaussianDiffusion {
  /** Added to the first seed word to derive the noise seed from the timestep seed. */
  static final long NOISE_SEED_OFFSET = 0x9E3779B97F4A7C15L;

  private final Ops tf;
  private final ScheduleTensors coefficients;

  public GaussianDiffusion(Ops tf, NoiseSchedule schedule) {
    this.tf = tf;
    this.coefficients = new ScheduleTensors(tf, schedule);
  }

  /** The schedule's graph constants. */
  public ScheduleTensors coefficients() {
    return coefficients;
  }

  /** T. */
  public int timesteps() {
    return coefficients.schedule().timesteps();
  }

  private Operand<TFloat32> at(Coefficient c, Operand<TInt32> t) {
    return coefficients.extract(c, t);
  }

  // --- forward process q(x_t | x_0) ---

  /** {@code x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε}: a sample of q(x_t | x_0). */
  public Operand<TFloat32> qSample(
      Operand<TFloat32> x0, Operand<TInt32> t, Operand<TFloat32> noise) {
    return tf.math.add(
        tf.math.mul(at(Coefficient.SQRT_ALPHAS_CUMPROD, t), x0),
        tf.math.mul(at(Coefficient.SQRT_ONE_MINUS_ALPHAS_CUMPROD, t), noise));
  }

  // --- posterior q(x_{t-1} | x_t, x_0) ---

  /** Mean, variance and log-variance of q(x_{t-1} | x_t, x_0); the variances are [B, 1, 1, 1]. */
  public record Posterior(
      Operand<TFloat32> mean, Operand<TFloat32> variance, Operand<TFloat32> logVarianceClipped) {}

  /** {@code μ̃ = coef1_t x_0 + coef2_t x_t}, {@code β̃_t} and {@code log β̃_t} (clipped). */
  public Posterior qPosterior(Operand<TFloat32> x0, Operand<TFloat32> xt, Operand<TInt32> t) {
    Operand<TFloat32> mean =
        tf.math.add(
            tf.math.mul(at(Coefficient.POSTERIOR_MEAN_COEF1, t), x0),
            tf.math.mul(at(Coefficient.POSTERIOR_MEAN_COEF2, t), xt));
    return new Posterior(
        mean,
        at(Coefficient.POSTERIOR_VARIANCE, t),
        at(Coefficient.POSTERIOR_LOG_VARIANCE_CLIPPED, t));
  }

  // --- conversions between ε, x_0 and v ---

  /** {@code x_0 = √(1/ᾱ_t) x_t - √(1/ᾱ_t - 1) ε}. */
  public Operand<TFloat32> predictX0FromEps(
      Operand<TFloat32> xt, Operand<TInt32> t, Operand<TFloat32> eps) {
    return tf.math.sub(
        tf.math.mul(at(Coefficient.SQRT_RECIP_ALPHAS_CUMPROD, t), xt),
        tf.math.mul(at(Coefficient.SQRT_RECIPM1_ALPHAS_CUMPROD, t), eps));
  }

  /** {@code ε = (√(1/ᾱ_t) x_t - x_0) / √(1/ᾱ_t - 1)}. */
  public Operand<TFloat32> predictEpsFromX0(
      Operand<TFloat32> xt, Operand<TInt32> t, Operand<TFloat32> x0) {
    return tf.math.div(
        tf.math.sub(tf.math.mul(at(Coefficient.SQRT_RECIP_ALPHAS_CUMPROD, t), xt), x0),
        at(Coefficient.SQRT_RECIPM1_ALPHAS_CUMPROD, t));
  }

  /** {@code v = √ᾱ_t ε - √(1 - ᾱ_t) x_0}. */
  public Operand<TFloat32> velocity(
      Operand<TFloat32> x0, Operand<TInt32> t, Operand<TFloat32> eps) {
    return tf.math.sub(
        tf.math.mul(at(Coefficient.SQRT_ALPHAS_CUMPROD, t), eps),
        tf.math.mul(at(Coefficient.SQRT_ONE_MINUS_ALPHAS_CUMPROD, t), x0));
  }

  /** {@code x_0 = √ᾱ_t x_t - √(1 - ᾱ_t) v}. */
  public Operand<TFloat32> predictX0FromV(
      Operand<TFloat32> xt, Operand<TInt32> t, Operand<TFloat32> v) {
    return tf.math.sub(
        tf.math.mul(at(Coefficient.SQRT_ALPHAS_CUMPROD, t), xt),
        tf.math.mul(at(Coefficient.SQRT_ONE_MINUS_ALPHAS_CUMPROD, t), v));
  }

  /** {@code ε = √(1 - ᾱ_t) x_t + √ᾱ_t v}. */
  public Operand<TFloat32> predictEpsFromV(
      Operand<TFloat32> xt, Operand<TInt32> t, Operand<TFloat32> v) {
    return tf.math.add(
        tf.math.mul(at(Coefficient.SQRT_ONE_MINUS_ALPHAS_CUMPROD, t), xt),
        tf.math.mul(at(Coefficient.SQRT_ALPHAS_CUMPROD, t), v));
  }

  /** x_0 implied by a model output of the given kind. */
  public Operand<TFloat32> predictX0(
      Prediction kind, Operand<TFloat32> xt, Operand<TInt32> t, Operand<TFloat32> output) {
    return switch (kind) {
      case EPSILON -> predictX0FromEps(xt, t, output);
      case SAMPLE -> output;
      case V_PREDICTION -> predictX0FromV(xt, t, output);
    };
  }

  /** ε implied by a model output of the given kind. */
  public Operand<TFloat32> predictEps(
      Prediction kind, Operand<TFloat32> xt, Operand<TInt32> t, Operand<TFloat32> output) {
    return switch (kind) {
      case EPSILON -> output;
      case SAMPLE -> predictEpsFromX0(xt, t, output);
      case V_PREDICTION -> predictEpsFromV(xt, t, output);
    };
  }

  // --- training objective ---

  /** What a model of the given kind should output for (x_0, ε, t). */
  public Operand<TFloat32> target(
      Prediction kind, Operand<TFloat32> x0, Operand<TInt32> t, Operand<TFloat32> noise) {
    return switch (kind) {
      case EPSILON -> noise;
      case SAMPLE -> x0;
      case V_PREDICTION -> velocity(x0, t, noise);
    };
  }

  /** The tensors of one loss evaluation, for logging and tests. */
  public record Loss(
      Operand<TFloat32> value,
      Operand<TInt32> t,
      Operand<TFloat32> noise,
      Operand<TFloat32> xt,
      Operand<TFloat32> output) {}

  /**
   * {@code p_losses}: the mean squared error between the target and the model output at x_t =
   * q_sample(x_0, t, ε), averaged over every element (PyTorch's MSELoss, as the tutorial).
   */
  public Loss pLosses(
      Denoiser model,
      Prediction kind,
      Operand<TFloat32> x0,
      Operand<TInt32> t,
      Operand<TFloat32> noise) {
    return pLosses(model, kind, LossWeighting.uniform(), x0, t, noise);
  }

  /**
   * {@code p_losses} with the timesteps weighted: {@code L = mean_b w_{t_b} · mean_pixels (target -
   * model(x_t, t))²}, w from {@link LossWeighting#weights} (a float32 constant gathered by t).
   * Uniform weights give the plain mean over every element.
   */
  public Loss pLosses(
      Denoiser model,
      Prediction kind,
      LossWeighting weighting,
      Operand<TFloat32> x0,
      Operand<TInt32> t,
      Operand<TFloat32> noise) {
    Operand<TFloat32> xt = qSample(x0, t, noise);
    Operand<TFloat32> output = model.apply(xt, t);
    Operand<TFloat32> error = tf.math.squaredDifference(output, target(kind, x0, t, noise));
    Operand<TFloat32> value;
    if (weighting.isUniform()) {
      value = tf.math.mean(error, tf.range(tf.constant(0), tf.rank(error), tf.constant(1)));
    } else {
      Operand<TFloat32> perSample =
          tf.math.mean(error, tf.range(tf.constant(1), tf.rank(error), tf.constant(1)));
      double[] w = weighting.weights(coefficients.schedule(), kind);
      float[] table = new float[w.length];
      for (int i = 0; i < w.length; i++) {
        table[i] = (float) w[i];
      }
      Operand<TFloat32> weights = tf.gather(tf.constant(table), t, tf.constant(0));
      value = tf.math.mean(tf.math.mul(weights, perSample), tf.constant(0));
    }
    return new Loss(value, t, noise, xt, output);
  }

  /** The random draws of one training step: a timestep per sample and the noise ε. */
  public record Draws(Operand<TInt32> t, Operand<TFloat32> noise) {}

  /**
   * The randomness of {@link #trainingLoss}, drawn statelessly from {@code seed} (int64 [2]) for
   * the whole batch {@code x0}: t uniform in [0, T) per sample and ε ~ N(0, I) of x0's shape. A
   * data-parallel step draws once for the combined batch and hands each replica its rows, so that
   * it sees the same t and ε as a single process would.
   */
  public Draws trainingDraws(Operand<TFloat32> x0, Operand<TInt64> seed) {
    Operand<TInt32> batch = tf.shape.size(tf.shape(x0), tf.constant(0));
    Operand<TInt32> t =
        tf.random.statelessRandomUniformInt(
            tf.reshape(batch, tf.constant(new int[] {1})),
            seed,
            tf.constant(0),
            tf.constant(timesteps()));
    // A distinct first seed word for the noise: callers may step the second word per training
    // step, and the noise of step k must not share a stream with the timesteps of step k + 1.
    Operand<TInt64> noiseSeed = tf.math.add(seed, tf.constant(new long[] {NOISE_SEED_OFFSET, 0L}));
    Operand<TFloat32> noise =
        tf.random.statelessRandomNormal(tf.shape(x0), noiseSeed, TFloat32.class);
    return new Draws(t, noise);
  }

  /**
   * The training loss with its randomness drawn statelessly from {@code seed} (int64 [2]): t
   * uniform in [0, T) per sample and ε ~ N(0, I), see {@link #trainingDraws}. The same seed gives
   * the same draw, so a resumed run continues exactly.
   */
  public Loss trainingLoss(
      Denoiser model, Prediction kind, Operand<TFloat32> x0, Operand<TInt64> seed) {
    return trainingLoss(model, kind, LossWeighting.uniform(), x0, seed);
  }

  /** {@link #trainingLoss(Denoiser, Prediction, Operand, Operand)} with weighted timesteps. */
  public Loss trainingLoss(
      Denoiser model,
      Prediction kind,
      LossWeighting weighting,
      Operand<TFloat32> x0,
      Operand<TInt64> seed) {
    Draws draws = trainingDraws(x0, seed);
    return pLosses(model, kind, weighting, x0, draws.t(), draws.noise());
  }
}
