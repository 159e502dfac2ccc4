package org.tfdiffusion.sampling.editing;

import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.nn.BoundParameters;
import org.tfdiffusion.sampling.DdimSampler;
import org.tfdiffusion.sampling.DdpmSampler;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.HostLoop;
import org.tfdiffusion.sampling.Sampler;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.sampling.Trajectory;
import org.tfdiffusion.schedule.BetaSchedule;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.ReferenceSamplers;
import org.tfdiffusion.testing.ReferenceSchedule;

/**
 * What the editing tests share: 4 × 4 × 1 images, the tutorial's schedule on both sides, the
 * samplers with their plain-Java references, dummy models, and one way to run a trajectory in
 * either loop.
 */
final class EditingHarness {
  private EditingHarness() {}

  static final Shape IMAGE = Shape.of(4, 4, 1);
  static final int PIXELS = 16;
  static final NoiseSchedule SCHEDULE = NoiseSchedule.linear();
  static final ReferenceSchedule REFERENCE =
      ReferenceSchedule.of(
          BetaSchedule.LINEAR,
          NoiseSchedule.DEFAULT_TIMESTEPS,
          NoiseSchedule.DEFAULT_BETA_START,
          NoiseSchedule.DEFAULT_BETA_END);
  private static final int T = NoiseSchedule.DEFAULT_TIMESTEPS;

  /**
   * The most float32 roundings along one path through a step with the dummy model ({@code
   * ParityCases.ROUNDINGS} of the sampling tests).
   */
  static final int STEP_ROUNDINGS = 16;

  /** A sampler with its reference. */
  record Case(String name, Sampler sampler, ReferenceSamplers.Sampler reference) {
    SamplingPlan plan() {
      return sampler.plan(SCHEDULE, Prediction.EPSILON);
    }

    @Override
    public String toString() {
      return name;
    }
  }

  static final Case DDPM =
      new Case(
          "ddpm 20 respaced",
          DdpmSampler.of(20),
          ReferenceSamplers.respacedDdpm(REFERENCE, 20, false, 0, Prediction.EPSILON));
  static final Case DDIM_STOCHASTIC =
      new Case(
          "ddim 10 eta 0.7",
          DdimSampler.of(10, 0.7),
          ReferenceSamplers.ddim(
              REFERENCE,
              ReferenceSamplers.ddimTimesteps("leading", T, 10, 0),
              0.7,
              true,
              0,
              Prediction.EPSILON));
  static final Case DDIM =
      new Case(
          "ddim 10 eta 0",
          DdimSampler.of(10, 0),
          ReferenceSamplers.ddim(
              REFERENCE,
              ReferenceSamplers.ddimTimesteps("leading", T, 10, 0),
              0,
              true,
              0,
              Prediction.EPSILON));
  static final Case DPMPP =
      new Case(
          "dpm++ 10 order 2",
          DpmSolverPlusPlusSampler.of(10),
          ReferenceSamplers.dpmSolverPlusPlus(
              REFERENCE,
              ReferenceSamplers.dpmSolverTimesteps("linspace", T, 10, 0),
              2,
              true,
              true,
              Prediction.EPSILON));

  static List<Case> all() {
    return List.of(DDPM, DDIM_STOCHASTIC, DDIM, DPMPP);
  }

  /** diffusers' dummy model ε = x · t / (t + 1), elementwise. */
  static Operand<TFloat32> dummy(Ops tf, Operand<TFloat32> x, Operand<TInt32> t) {
    Operand<TFloat32> tf32 = tf.dtypes.cast(t, TFloat32.class);
    Operand<TFloat32> ratio =
        tf.reshape(
            tf.math.div(tf32, tf.math.add(tf32, tf.constant(1f))),
            tf.constant(new int[] {-1, 1, 1, 1}));
    return tf.math.mul(x, ratio);
  }

  static final SamplingLoop.Model DUMMY = (tf, weights, x, t, conditioning) -> dummy(tf, x, t);

  /** How much of each image's mean the mixing model adds. */
  static final double MIXING = 0.5;

  /**
   * A dummy model that sees the whole image, ε = x · t / (t + 1) + κ · mean(x) per image, so that
   * generated pixels depend on the known ones.
   */
  static final SamplingLoop.Model MIXING_DUMMY =
      (tf, weights, x, t, conditioning) ->
          tf.math.add(
              dummy(tf, x, t),
              tf.math.mul(
                  tf.constant((float) MIXING),
                  tf.math.mean(
                      x,
                      tf.constant(new int[] {1, 2, 3}),
                      org.tensorflow.op.math.Mean.keepDims(true))));

  /** The mixing model in double, [B, H, W, C] row-major. */
  static double[] mixingDummy(double[] x, int t) {
    double[] out = new double[x.length];
    for (int row = 0; row < x.length / PIXELS; row++) {
      double mean = 0;
      for (int p = 0; p < PIXELS; p++) {
        mean += x[row * PIXELS + p];
      }
      mean /= PIXELS;
      for (int p = 0; p < PIXELS; p++) {
        int e = row * PIXELS + p;
        out[e] = ReferenceSamplers.dummyModel(x[e], t) + MIXING * mean;
      }
    }
    return out;
  }

  /** Builds a trajectory in a graph, given the rows' seeds (a placeholder). */
  @FunctionalInterface
  interface Build {
    Trajectory build(Ops tf, Operand<TInt64> seeds);
  }

  /**
   * Builds the trajectory, runs it in the compiled loop or the host loop and returns the final
   * samples, [B, H, W, C] row-major.
   */
  static float[] run(
      Build build,
      long[] seeds,
      SamplingLoop.Model model,
      Function<Ops, List<Operand<?>>> conditioning,
      boolean host) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt64> seedInput = tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
      Trajectory trajectory = build.build(tf, seedInput);
      List<Operand<?>> cond = conditioning.apply(tf);
      HostLoop loop =
          host
              ? new HostLoop(tf, trajectory, IMAGE, model, new BoundParameters(Map.of()), cond)
              : null;
      Operand<TFloat32> samples =
          host
              ? null
              : SamplingLoop.compiled(tf, trajectory, IMAGE, model, Map.of(), cond, 0).samples();
      try (Session s = new Session(g);
          TInt64 seedValues = TensorIO.longs(seeds)) {
        Map<Operand<?>, Tensor> feeds = Map.of(seedInput, seedValues);
        if (host) {
          try (TFloat32 out = loop.run(s, feeds, done -> {})) {
            return TensorIO.toFloats(out);
          }
        }
        try (Result r = s.runner().feed(seedInput, seedValues).fetch(samples).run()) {
          return TensorIO.toFloats(r.get(0));
        }
      }
    }
  }

  /** {@link #run} with the dummy model and no conditioning. */
  static float[] run(Build build, long[] seeds, boolean host) {
    return run(build, seeds, DUMMY, tf -> List.of(), host);
  }

  /** Plain sampling of {@code plan} for {@code seeds} in the compiled loop or the host loop. */
  static float[] plain(SamplingPlan plan, long[] seeds, boolean host) {
    return run((tf, s) -> Trajectory.sampling(plan, s), seeds, host);
  }

  /** A fixed image in [-1, 1] with {@code rows} rows, different in every row and pixel. */
  static float[] image(int rows) {
    float[] out = new float[rows * PIXELS];
    for (int e = 0; e < out.length; e++) {
      out[e] = (float) Math.sin(0.7 * e + 0.3 * (e / PIXELS) + 0.2);
    }
    return out;
  }

  /** The image as a graph constant [rows, 4, 4, 1]. */
  static Operand<TFloat32> constant(Ops tf, float[] values, int rows) {
    return tf.constant(
        Shape.of(rows, 4, 4, 1), org.tensorflow.ndarray.buffer.DataBuffers.of(values));
  }

  static double[] widen(float[] values) {
    double[] out = new double[values.length];
    for (int e = 0; e < values.length; e++) {
      out[e] = values[e];
    }
    return out;
  }
}
