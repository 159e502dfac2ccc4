package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.nn.BoundParameters;
import org.tfdiffusion.nn.Initializer;
import org.tfdiffusion.nn.ParameterSpec;
import org.tfdiffusion.nn.Parameters;
import org.tfdiffusion.schedule.Coefficient;
import org.tfdiffusion.schedule.NoiseSchedule;
import org.tfdiffusion.testing.ArrayAsserts;

class SamplingLoopTest {
  private static final Shape IMAGE = Shape.of(4, 4, 2);
  private static final float SCALE = 0.9f;
  private static final NoiseSchedule SCHEDULE = NoiseSchedule.linear();

  /** diffusers' dummy model, ε = x · t / (t + 1), scaled by a weight to carry weights through. */
  private static final SamplingLoop.Model DUMMY =
      (tf, weights, x, t, conditioning) -> {
        Operand<TFloat32> scale =
            weights.get(new ParameterSpec("scale", Shape.of(1), Initializer.constant(1)));
        Operand<TFloat32> tf32 = tf.dtypes.cast(t, TFloat32.class);
        Operand<TFloat32> ratio =
            tf.reshape(
                tf.math.div(tf32, tf.math.add(tf32, tf.constant(1f))),
                tf.constant(new int[] {-1, 1, 1, 1}));
        return tf.math.mul(tf.math.mul(x, ratio), scale);
      };

  static Stream<Arguments> samplers() {
    return Stream.of(
        Arguments.of(DdpmSampler.of(20)),
        Arguments.of(DdimSampler.of(10, 0.5)),
        Arguments.of(DdimSampler.of(10, 0.0)),
        Arguments.of(DpmSolverPlusPlusSampler.of(8)),
        // clipped posterior-mean form with σ² = β
        Arguments.of(new DdpmSampler(20, DdpmSampler.Variance.BETA, 1.0)),
        // stochastic DDIM, trailing, final ᾱ_0, clipped
        Arguments.of(new DdimSampler(10, 0.7, TimestepSpacing.TRAILING, 0, false, 1.0)),
        // second order up to the last step (σ_min, no lower-order final)
        Arguments.of(
            new DpmSolverPlusPlusSampler(
                8,
                2,
                TimestepSpacing.TRAILING,
                0,
                false,
                DpmSolverPlusPlusSampler.FinalSigma.SIGMA_MIN)),
        Arguments.of(EulerSampler.of(8)),
        Arguments.of(
            new EulerAncestralSampler(8, TimestepSpacing.LINSPACE, 0, SigmaSpacing.KARRAS)),
        Arguments.of(new HeunSampler(5, TimestepSpacing.TRAILING, 0, SigmaSpacing.KARRAS)),
        Arguments.of(DpmSolverPlusPlusSampler.sde(8).withSigmaSpacing(SigmaSpacing.KARRAS)));
  }

  private static float[] compiled(SamplingPlan plan, long... seeds) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      SamplingLoop.Outputs out =
          SamplingLoop.compiled(
              tf,
              plan,
              IMAGE,
              DUMMY,
              Map.of("scale", tf.constant(new float[] {SCALE})),
              tf.constant(seeds),
              List.of(),
              0);
      try (Session s = new Session(g);
          Result r = s.runner().fetch(out.samples()).run()) {
        assertThat(r.get(0).shape()).isEqualTo(Shape.of(seeds.length, 4, 4, 2));
        return TensorIO.toFloats(r.get(0));
      }
    }
  }

  @ParameterizedTest
  @MethodSource("samplers")
  void compiledAndHostLoopsGiveTheSameImages(Sampler sampler) {
    SamplingPlan plan = sampler.plan(SCHEDULE, Prediction.EPSILON);
    long[] seeds = {3, 11};
    float[] viaWhile = compiled(plan, seeds);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Parameters weights = new BoundParameters(Map.of("scale", tf.constant(new float[] {SCALE})));
      HostLoop host = new HostLoop(tf, plan, IMAGE, DUMMY, weights, List.of());
      int[] calls = {0};
      try (Session s = new Session(g);
          TInt64 seedTensor = TensorIO.longs(seeds);
          TFloat32 out = host.run(s, seedTensor, Map.of(), step -> calls[0] = step)) {
        assertThat(calls[0]).isEqualTo(plan.steps());
        float[] viaHost = TensorIO.toFloats(out);
        for (int i = 0; i < viaHost.length; i++) {
          assertThat(viaHost[i]).isCloseTo(viaWhile[i], org.assertj.core.data.Offset.offset(1e-5f));
        }
      }
    }
  }

  @Test
  void aHostLoopStoppedMidwayReleasesEveryTensorItHeld() {
    SamplingPlan plan = DpmSolverPlusPlusSampler.of(6).plan(SCHEDULE, Prediction.EPSILON);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Parameters weights = new BoundParameters(Map.of("scale", tf.constant(new float[] {SCALE})));
      HostLoop host = new HostLoop(tf, plan, IMAGE, DUMMY, weights, List.of());
      try (Session s = new Session(g);
          TInt64 seedTensor = TensorIO.longs(3, 11)) {
        // one run first, so that the session's own lazily made objects exist before counting
        host.run(s, seedTensor, Map.of(), step -> {}).close();
        long before = org.bytedeco.javacpp.Pointer.totalCount();
        for (int stopAt = 1; stopAt <= 3; stopAt++) {
          int stop = stopAt;
          org.assertj.core.api.Assertions.assertThatThrownBy(
                  () ->
                      host.run(
                          s,
                          seedTensor,
                          Map.of(),
                          step -> {
                            if (step == stop) {
                              throw new IllegalStateException("cancelled");
                            }
                          }))
              .hasMessage("cancelled");
        }
        // three tensors (x, and the two model outputs of the multistep history) per stopped run
        // would still be counted had they leaked
        assertThat(org.bytedeco.javacpp.Pointer.totalCount()).isLessThanOrEqualTo(before);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("samplers")
  void anImageDependsOnlyOnItsSeed(Sampler sampler) {
    SamplingPlan plan = sampler.plan(SCHEDULE, Prediction.EPSILON);
    int image = 4 * 4 * 2;
    float[] alone = compiled(plan, 7);
    float[] second = compiled(plan, 5, 7);
    float[] third = compiled(plan, 1, 2, 7);
    ArrayAsserts.assertSameUpToRounding(
        "seed 7 second of two", java.util.Arrays.copyOfRange(second, image, 2 * image), alone);
    ArrayAsserts.assertSameUpToRounding(
        "seed 7 third of three", java.util.Arrays.copyOfRange(third, 2 * image, 3 * image), alone);
    assertThat(java.util.Arrays.copyOfRange(third, 0, image)).isNotEqualTo(alone);
  }

  @Test
  void deterministicDdimMatchesDiffusersFormulaInPlainJava() {
    DdimSampler ddim = new DdimSampler(10, 0.0, TimestepSpacing.LEADING, 1, true, 0);
    SamplingPlan plan = ddim.plan(SCHEDULE, Prediction.EPSILON);
    long seed = 42;
    float[] noise = initialNoise(seed);
    // diffusers DDIMScheduler.step with eta = 0, leading spacing, steps_offset 1
    double[] x = new double[noise.length];
    for (int k = 0; k < x.length; k++) {
      x[k] = noise[k];
    }
    int ratio = 1000 / 10;
    for (int i = 9; i >= 0; i--) {
      int t = i * ratio + 1;
      int prev = t - ratio;
      double ab = SCHEDULE.get(Coefficient.ALPHAS_CUMPROD, t);
      double abPrev = prev >= 0 ? SCHEDULE.get(Coefficient.ALPHAS_CUMPROD, prev) : 1.0;
      for (int k = 0; k < x.length; k++) {
        double eps = x[k] * t / (t + 1.0) * SCALE;
        double x0 = (x[k] - Math.sqrt(1 - ab) * eps) / Math.sqrt(ab);
        x[k] = Math.sqrt(abPrev) * x0 + Math.sqrt(1 - abPrev) * eps;
      }
    }
    float[] graph = compiled(plan, seed);
    for (int k = 0; k < x.length; k++) {
      assertThat((double) graph[k])
          .isCloseTo(x[k], org.assertj.core.data.Offset.offset(1e-4 * Math.max(1, Math.abs(x[k]))));
    }
  }

  private static float[] initialNoise(long seed) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> z =
          RowNoise.normal(tf, tf.constant(new long[] {seed}), tf.constant(0L), IMAGE);
      try (Session s = new Session(g);
          Result r = s.runner().fetch(z).run()) {
        return TensorIO.toFloats(r.get(0));
      }
    }
  }

  /**
   * A table of plans with N and η chosen at run time gives the same images as the fixed plan of
   * that N and η.
   */
  @Test
  void runtimeStepsAndEtaMatchTheFixedPlan() {
    List<SamplingPlan> plans = new java.util.ArrayList<>();
    for (int n = 1; n <= 6; n++) {
      plans.add(DdimSampler.of(n, 0).plan(SCHEDULE, Prediction.EPSILON));
    }
    SamplingPlan table = SamplingPlan.concat("ddim 1..6", plans);
    long[] seeds = {4, 9};
    for (float eta : new float[] {0f, 0.6f}) {
      float[] fixed = compiled(DdimSampler.of(5, eta).plan(SCHEDULE, Prediction.EPSILON), seeds);
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        SamplingLoop.Outputs out =
            SamplingLoop.compiled(
                tf,
                table,
                new SamplingLoop.RuntimeSteps(
                    tf.constant(1 + 2 + 3 + 4), tf.constant(5), Optional.of(tf.constant(eta))),
                IMAGE,
                DUMMY,
                Map.of("scale", tf.constant(new float[] {SCALE})),
                tf.constant(seeds),
                List.of());
        try (Session s = new Session(g);
            Result r = s.runner().fetch(out.samples()).run()) {
          float[] runtime = TensorIO.toFloats(r.get(0));
          for (int i = 0; i < fixed.length; i++) {
            assertThat(runtime[i])
                .as("eta %s, element %s", eta, i)
                .isCloseTo(fixed[i], org.assertj.core.data.Offset.offset(1e-5f));
          }
        }
      }
    }
  }

  @Test
  void snapshotsHoldIntermediatePredictions() {
    SamplingPlan plan = DdimSampler.of(6, 0.0).plan(SCHEDULE, Prediction.EPSILON);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      SamplingLoop.Outputs out =
          SamplingLoop.compiled(
              tf,
              plan,
              IMAGE,
              DUMMY,
              Map.of("scale", tf.constant(new float[] {SCALE})),
              tf.constant(new long[] {1, 2}),
              List.of(),
              3);
      try (Session s = new Session(g);
          Result r = s.runner().fetch(out.x0Snapshots().orElseThrow()).run()) {
        assertThat(r.get(0).shape()).isEqualTo(Shape.of(3, 2, 4, 4, 2));
        float[] values = TensorIO.toFloats(r.get(0));
        int slot = 2 * 32;
        // every slot was written (no zeros left) and the slots differ
        for (float v : values) {
          assertThat(v).isNotZero();
        }
        assertThat(java.util.Arrays.copyOfRange(values, 0, slot))
            .isNotEqualTo(java.util.Arrays.copyOfRange(values, slot, 2 * slot));
      }
    }
    assertThat(SamplingLoop.snapshotSlots(6, 3)).containsExactly(0, 0, 1, 1, 2, 2);
  }

  @Test
  void rowNoiseIsStandardNormal() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      long[] seeds = new long[64];
      for (int i = 0; i < seeds.length; i++) {
        seeds[i] = 1000 + i;
      }
      Operand<TFloat32> z =
          RowNoise.normal(tf, tf.constant(seeds), tf.constant(3L), Shape.of(8, 8, 4));
      try (Session s = new Session(g);
          Result r = s.runner().fetch(z).run()) {
        float[] v = TensorIO.toFloats(r.get(0));
        double mean = 0;
        double sq = 0;
        for (float f : v) {
          mean += f;
          sq += f * f;
        }
        mean /= v.length;
        double var = sq / v.length - mean * mean;
        // n = 16384: 5 standard errors of the mean (1/√n) and of the variance (√(2/n))
        assertThat(mean).isBetween(-5 / 128.0, 5 / 128.0);
        assertThat(var)
            .isBetween(1 - 5 * Math.sqrt(2.0 / v.length), 1 + 5 * Math.sqrt(2.0 / v.length));
      }
    }
  }

  @Test
  void timestepOfEachStepIsThePlans() {
    SamplingPlan plan = DdimSampler.of(5, 0).plan(SCHEDULE, Prediction.EPSILON);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      SamplerStep step = new SamplerStep(tf, plan);
      Operand<TInt32> t = step.timestep(tf.constant(2));
      try (Session s = new Session(g);
          Result r = s.runner().fetch(t).run()) {
        assertThat(TensorIO.toInts(r.get(0))).containsExactly(400);
      }
    }
    assertThat(plan.timesteps().toArray()).containsExactly(800, 600, 400, 200, 0);
    assertThat(Optional.of(plan.stochastic())).contains(false);
  }
}
