package org.tfdiffusion.sampling.editing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.tfdiffusion.sampling.editing.EditingHarness.IMAGE;
import static org.tfdiffusion.sampling.editing.EditingHarness.PIXELS;
import static org.tfdiffusion.testing.ReferenceSamplers.FLOAT32_UNIT_ROUNDOFF;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.sampling.RowNoise;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.sampling.Trajectory;
import org.tfdiffusion.sampling.editing.EditingHarness.Case;
import org.tfdiffusion.testing.ArrayAsserts;
import org.tfdiffusion.testing.GraphRunner;
import org.tfdiffusion.testing.ReferenceEditing;
import org.tfdiffusion.testing.RowNoiseValues;

/**
 * Interpolation: the frames' starts against Shoemake's slerp of the two seeds' start noises in
 * double, and the end frames against plain sampling of each seed.
 */
class InterpolationTest {
  private static final long SEED_A = 7;
  private static final long SEED_B = 19;

  /**
   * The most float32 roundings in a start: the float64 weight rounded to float32, a product, the
   * sum; one more for the float64 arithmetic before.
   */
  private static final int SLERP_ROUNDINGS = 4;

  @Test
  void theFramesStartFromTheSlerpOfTheTwoSeedsNoises() {
    int frames = 6;
    Interpolation interpolation = new Interpolation(frames);
    float[] starts =
        GraphRunner.eval(
            tf ->
                interpolation
                    .trajectory(
                        tf,
                        EditingHarness.DDIM.plan(),
                        IMAGE,
                        tf.constant(SEED_A),
                        tf.constant(SEED_B))
                    .start()
                    .orElseThrow());
    assertThat(starts).hasSize(frames * PIXELS);
    float[] a = RowNoiseValues.draw(new long[] {SEED_A}, IMAGE, RowNoise.START_COUNTER)[0];
    float[] b = RowNoiseValues.draw(new long[] {SEED_B}, IMAGE, RowNoise.START_COUNTER)[0];
    assertThat(interpolation.fractions()).containsExactly(0, 0.2, 0.4, 0.6, 0.8, 1);
    for (int f = 0; f < frames; f++) {
      double alpha = interpolation.fractions()[f];
      double[] expected =
          ReferenceEditing.slerp(EditingHarness.widen(a), EditingHarness.widen(b), alpha);
      double[] tolerance = new double[PIXELS];
      double[] weights = weightsOf(a, b, alpha);
      for (int p = 0; p < PIXELS; p++) {
        tolerance[p] =
            SLERP_ROUNDINGS
                * FLOAT32_UNIT_ROUNDOFF
                * (Math.abs(weights[0] * a[p]) + Math.abs(weights[1] * b[p]));
      }
      float[] frame = Arrays.copyOfRange(starts, f * PIXELS, (f + 1) * PIXELS);
      ArrayAsserts.assertWithin("frame " + f, frame, expected, tolerance);
    }
    assertThat(Arrays.copyOfRange(starts, 0, PIXELS)).as("first frame").containsExactly(a);
    assertThat(Arrays.copyOfRange(starts, (frames - 1) * PIXELS, frames * PIXELS))
        .as("last frame")
        .containsExactly(b);
  }

  /** slerp's two weights, sin((1-α)θ)/sin θ and sin(αθ)/sin θ, in double. */
  private static double[] weightsOf(float[] a, float[] b, double alpha) {
    double dot = 0;
    double aa = 0;
    double bb = 0;
    for (int k = 0; k < a.length; k++) {
      dot += (double) a[k] * b[k];
      aa += (double) a[k] * a[k];
      bb += (double) b[k] * b[k];
    }
    double theta = Math.acos(dot / Math.sqrt(aa * bb));
    return new double[] {
      Math.sin((1 - alpha) * theta) / Math.sin(theta), Math.sin(alpha * theta) / Math.sin(theta)
    };
  }

  /** Nearly parallel noises, where sin θ is too small to divide by, are joined by a line. */
  @Test
  void parallelNoisesAreJoinedByAStraightLine() {
    float[] a = RowNoiseValues.draw(new long[] {SEED_A}, IMAGE, RowNoise.START_COUNTER)[0];
    double[] fractions = {0, 0.3, 1};
    float[] out =
        GraphRunner.eval(
            tf -> {
              Operand<TFloat32> x = EditingHarness.constant(tf, a, 1);
              return Interpolation.slerp(
                  tf, x, tf.math.mul(tf.constant(2f), x), tf.constant(fractions));
            });
    for (int f = 0; f < fractions.length; f++) {
      double[] expected = new double[PIXELS];
      for (int p = 0; p < PIXELS; p++) {
        expected[p] = (1 + fractions[f]) * a[p];
      }
      ArrayAsserts.assertClose(
          "fraction " + fractions[f],
          Arrays.copyOfRange(out, f * PIXELS, (f + 1) * PIXELS),
          expected,
          4 * FLOAT32_UNIT_ROUNDOFF,
          0);
    }
  }

  @Test
  void theEndFramesArePlainSamplingOfEachSeed() {
    int frames = 4;
    for (Case c : List.of(EditingHarness.DDIM, EditingHarness.DPMPP)) {
      SamplingPlan plan = c.plan();
      for (boolean host : new boolean[] {false, true}) {
        float[] strip =
            EditingHarness.run(
                (tf, seeds) ->
                    new Interpolation(frames)
                        .trajectory(tf, plan, IMAGE, tf.constant(SEED_A), tf.constant(SEED_B)),
                new long[] {SEED_A},
                host);
        String what = c + (host ? ", host loop" : ", compiled loop");
        assertThat(strip).as(what).hasSize(frames * PIXELS);
        ArrayAsserts.assertSameUpToRounding(
            what + ": first frame",
            Arrays.copyOfRange(strip, 0, PIXELS),
            EditingHarness.plain(plan, new long[] {SEED_A}, host));
        ArrayAsserts.assertSameUpToRounding(
            what + ": last frame",
            Arrays.copyOfRange(strip, (frames - 1) * PIXELS, frames * PIXELS),
            EditingHarness.plain(plan, new long[] {SEED_B}, host));
        assertThat(Arrays.copyOfRange(strip, PIXELS, 2 * PIXELS))
            .as("%s: a middle frame", what)
            .isNotEqualTo(Arrays.copyOfRange(strip, 0, PIXELS));
      }
    }
  }

  /** The frame count as a run-time input (an export's) gives the strip of that fixed count. */
  @Test
  void theFrameCountAtRunTimeGivesTheStripOfThatCount() {
    SamplingPlan plan = EditingHarness.DPMPP.plan();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TInt32> frames = tf.placeholder(TInt32.class, Placeholder.shape(Shape.scalar()));
      Trajectory strip =
          Interpolation.atRuntime(
              tf, plan, IMAGE, tf.constant(SEED_A), tf.constant(SEED_B), frames);
      Operand<TFloat32> samples =
          SamplingLoop.compiled(
                  tf, strip, IMAGE, EditingHarness.DUMMY, java.util.Map.of(), List.of(), 0)
              .samples();
      try (Session s = new Session(g)) {
        for (int count : new int[] {2, 5}) {
          float[] fixed =
              EditingHarness.run(
                  (f, seeds) ->
                      new Interpolation(count)
                          .trajectory(f, plan, IMAGE, f.constant(SEED_A), f.constant(SEED_B)),
                  new long[] {SEED_A},
                  false);
          try (TInt32 fed = TInt32.scalarOf(count);
              Result r = s.runner().feed(frames, fed).fetch(samples).run()) {
            ArrayAsserts.assertSameUpToRounding(
                count + " frames at run time", TensorIO.toFloats(r.get(0)), fixed);
          }
        }
        try (TInt32 fed = TInt32.scalarOf(1)) {
          assertThatThrownBy(() -> s.runner().feed(frames, fed).fetch(samples).run().close())
              .hasMessageContaining("interpolation needs at least 2 frames");
        }
      }
    }
  }

  @Test
  void badInputIsRejectedWithTheFix() {
    assertThatThrownBy(() -> new Interpolation(1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "interpolation needs at least 2 frames (the two seeds' own images at the ends), got 1");
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      assertThatThrownBy(
              () ->
                  new Interpolation(3)
                      .trajectory(
                          tf,
                          EditingHarness.DDIM_STOCHASTIC.plan(),
                          IMAGE,
                          tf.constant(SEED_A),
                          tf.constant(SEED_B)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("interpolation needs a deterministic sampler")
          .hasMessageContaining("use ddim with eta 0, dpmpp, euler or heun");
      assertThatThrownBy(
              () ->
                  new Interpolation(3)
                      .trajectory(
                          tf,
                          EditingHarness.DDIM.plan(),
                          IMAGE,
                          tf.constant(new long[] {SEED_A}),
                          tf.constant(SEED_B)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("the two seeds must be int64 scalars");
    }
  }
}
