package org.tfdiffusion.sampling;

import java.util.List;
import java.util.function.Function;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.sampling.DdpmSampler.Variance;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.FinalSigma;
import org.tfdiffusion.schedule.BetaSchedule;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.ReferenceSamplers;
import org.tfdiffusion.testing.ReferenceSchedule;

/**
 * The sampler settings the parity tests cover, each paired with its plain-Java reference from
 * {@link ReferenceSamplers}, and the dummy model both sides evaluate.
 */
final class ParityCases {
  private ParityCases() {}

  /** The tutorial's schedule, for the code under test. */
  static final NoiseSchedule SCHEDULE = NoiseSchedule.linear();

  /** The same schedule from the reference formulas. */
  static final ReferenceSchedule REFERENCE =
      ReferenceSchedule.of(
          BetaSchedule.LINEAR,
          NoiseSchedule.DEFAULT_TIMESTEPS,
          NoiseSchedule.DEFAULT_BETA_START,
          NoiseSchedule.DEFAULT_BETA_END);

  private static final int T = NoiseSchedule.DEFAULT_TIMESTEPS;

  /**
   * The most float32 roundings along one path from an input to an output of {@link SamplerStep}
   * with the dummy model: t / (t + 1) and the product with x (2); the float32 constants √(1-ᾱ), √ᾱ
   * and one of a..d, s (3); x̂_0 or ε̂ from the output (3: product, difference, quotient); the
   * difference x̂_0 - x̂_0^{prev} (1); a term's product (1); the sum of at most five terms (4): 14.
   * 16 leaves a margin (e.g. for a quotient rewritten as a product with a reciprocal).
   */
  static final int ROUNDINGS = 16;

  /**
   * One sampler setting.
   *
   * @param name for the test report
   * @param sampler the code under test
   * @param prediction what the dummy model's output is taken as
   * @param reference the same setting written from its source
   * @param clips whether x̂_0 is clipped
   */
  record Case(
      String name,
      Sampler sampler,
      Prediction prediction,
      Function<ReferenceSchedule, ReferenceSamplers.Sampler> reference,
      boolean clips) {
    SamplingPlan plan() {
      return sampler.plan(SCHEDULE, prediction);
    }

    ReferenceSamplers.Sampler referenceSampler() {
      return reference.apply(REFERENCE);
    }

    @Override
    public String toString() {
      return name;
    }
  }

  private static Case ddpm(String name, DdpmSampler sampler, Prediction prediction) {
    boolean fixedLarge = sampler.variance() == Variance.BETA;
    return new Case(
        name,
        sampler,
        prediction,
        s ->
            ReferenceSamplers.respacedDdpm(
                s, sampler.steps(), fixedLarge, sampler.x0Guard().range(), prediction),
        sampler.x0Guard().active());
  }

  private static Case ddim(
      String name,
      int steps,
      double eta,
      String spacing,
      int offset,
      boolean finalAlphaOne,
      double clip,
      Prediction prediction) {
    return new Case(
        name,
        new DdimSampler(steps, eta, TimestepSpacing.lookup(spacing), offset, finalAlphaOne, clip),
        prediction,
        s ->
            ReferenceSamplers.ddim(
                s,
                ReferenceSamplers.ddimTimesteps(spacing, T, steps, offset),
                eta,
                finalAlphaOne,
                clip,
                prediction),
        clip > 0);
  }

  private static Case dpm(
      String name,
      int steps,
      int order,
      String spacing,
      int offset,
      boolean lowerOrderFinal,
      FinalSigma finalSigma,
      Prediction prediction) {
    return new Case(
        name,
        new DpmSolverPlusPlusSampler(
            steps, order, TimestepSpacing.lookup(spacing), offset, lowerOrderFinal, finalSigma),
        prediction,
        s ->
            ReferenceSamplers.dpmSolverPlusPlus(
                s,
                ReferenceSamplers.dpmSolverTimesteps(spacing, T, steps, offset),
                order,
                lowerOrderFinal,
                finalSigma == FinalSigma.ZERO,
                prediction),
        false);
  }

  /** The tutorial's DDPM: all T steps, p_sample as written. */
  static final Case TUTORIAL_DDPM =
      new Case(
          "ddpm all 1000 steps = tutorial p_sample",
          DdpmSampler.of(T),
          Prediction.EPSILON,
          s -> ReferenceSamplers.tutorialDdpm(s, Prediction.EPSILON),
          false);

  private static final Prediction EPS = Prediction.EPSILON;
  private static final Prediction V = Prediction.V_PREDICTION;
  private static final Prediction X0 = Prediction.SAMPLE;

  /** Every covered setting except {@link #TUTORIAL_DDPM}. */
  static List<Case> all() {
    return List.of(
        ddpm("ddpm 50 respaced, posterior variance", DdpmSampler.of(50), EPS),
        ddpm("ddpm 50 respaced, beta variance", new DdpmSampler(50, Variance.BETA, 0), EPS),
        ddpm("ddpm 50 respaced, clip 1", new DdpmSampler(50, Variance.POSTERIOR, 1.0), EPS),
        ddpm("ddpm 50 respaced, v", DdpmSampler.of(50), V),
        ddpm("ddpm 20 respaced, beta, clip 1, x0", new DdpmSampler(20, Variance.BETA, 1.0), X0),
        new Case(
            "ddpm all 1000 steps = tutorial p_sample, v",
            DdpmSampler.of(T),
            V,
            s -> ReferenceSamplers.tutorialDdpm(s, V),
            false),
        ddim(
            "ddim 10 diffusers defaults (eta 0, leading, clip 1, final 1)",
            10,
            0,
            "leading",
            0,
            true,
            1.0,
            EPS),
        ddim("ddim 10 eta 0.7 leading offset 1", 10, 0.7, "leading", 1, true, 0, EPS),
        ddim("ddim 10 eta 0 trailing final alpha_bar_0", 10, 0, "trailing", 0, false, 0, EPS),
        ddim("ddim 10 eta 0.7 trailing clip 1, v", 10, 0.7, "trailing", 0, true, 1.0, V),
        ddim(
            "ddim 10 eta 0.7 linspace clip 1 final alpha_bar_0",
            10,
            0.7,
            "linspace",
            0,
            false,
            1.0,
            EPS),
        ddim("ddim 7 eta 0 linspace, v", 7, 0, "linspace", 0, true, 0, V),
        ddim("ddim 50 eta 1 leading final alpha_bar_0", 50, 1, "leading", 0, false, 0, EPS),
        ddim("ddim 10 eta 0.7 leading clip 1, x0", 10, 0.7, "leading", 0, true, 1.0, X0),
        dpm(
            "dpm++ 10 diffusers defaults (order 2, linspace)",
            10,
            2,
            "linspace",
            0,
            true,
            FinalSigma.ZERO,
            EPS),
        dpm("dpm++ 20 order 2 linspace", 20, 2, "linspace", 0, true, FinalSigma.ZERO, EPS),
        dpm("dpm++ 10 order 1 linspace", 10, 1, "linspace", 0, true, FinalSigma.ZERO, EPS),
        dpm("dpm++ 20 order 1 trailing, v", 20, 1, "trailing", 0, true, FinalSigma.ZERO, V),
        dpm("dpm++ 10 order 2 trailing, v", 10, 2, "trailing", 0, true, FinalSigma.ZERO, V),
        dpm(
            "dpm++ 20 order 2 trailing sigma_min (2nd order to the end)",
            20,
            2,
            "trailing",
            0,
            true,
            FinalSigma.SIGMA_MIN,
            EPS),
        dpm(
            "dpm++ 10 order 2 linspace sigma_min lower_order_final",
            10,
            2,
            "linspace",
            0,
            true,
            FinalSigma.SIGMA_MIN,
            EPS),
        dpm(
            "dpm++ 10 order 2 linspace sigma_min no lower_order_final",
            10,
            2,
            "linspace",
            0,
            false,
            FinalSigma.SIGMA_MIN,
            EPS),
        dpm(
            "dpm++ 10 order 2 leading offset 1, x0",
            10,
            2,
            "leading",
            1,
            true,
            FinalSigma.ZERO,
            X0));
  }

  /**
   * diffusers' dummy model {@code sample * t / (t + 1)} as a graph, t one int32 per row. float32: t
   * / (t + 1) and the product are each rounded once.
   */
  static Operand<TFloat32> dummyModel(Ops tf, Operand<TFloat32> x, Operand<TInt32> t) {
    Operand<TFloat32> tf32 = tf.dtypes.cast(t, TFloat32.class);
    Operand<TFloat32> ratio =
        tf.reshape(
            tf.math.div(tf32, tf.math.add(tf32, tf.constant(1f))),
            tf.constant(new int[] {-1, 1, 1, 1}));
    return tf.math.mul(x, ratio);
  }

  /** The dummy model as the sampling loops take it (no weights, no conditioning). */
  static final SamplingLoop.Model DUMMY = (tf, weights, x, t, conditioning) -> dummyModel(tf, x, t);
}
