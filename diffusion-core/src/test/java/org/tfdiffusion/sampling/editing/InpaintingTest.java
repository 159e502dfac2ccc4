package org.tfdiffusion.sampling.editing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.tfdiffusion.sampling.editing.EditingHarness.IMAGE;
import static org.tfdiffusion.sampling.editing.EditingHarness.PIXELS;
import static org.tfdiffusion.sampling.editing.EditingHarness.REFERENCE;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
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
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.sampling.RowNoise;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.sampling.editing.EditingHarness.Case;
import org.tfdiffusion.testing.ArrayAsserts;
import org.tfdiffusion.testing.ReferenceEditing;
import org.tfdiffusion.testing.RowNoiseValues;

/**
 * Inpainting against RePaint's Algorithm 1 in plain Java (the known region from q(x_t | x_0) at the
 * next step's level after every step, the jumps back from q(x_{t_j} | x) along diffusers' {@code
 * RePaintScheduler} schedule), with a dummy model that sees the whole image, so that the generated
 * pixels depend on the known ones at every step.
 */
class InpaintingTest {
  private static final long[] SEEDS = {3, 11};

  /** [4, 4]: the left half regenerated, the right half kept, one pixel blended. */
  private static final float[] MASK = {
    1, 1, 0, 0,
    1, 1, 0, 0,
    1, 1, 0.5f, 0,
    1, 1, 0, 0
  };

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (Case c : List.of(EditingHarness.DDPM, EditingHarness.DDIM, EditingHarness.DPMPP)) {
      out.add(Arguments.of(c, Inpainting.plain()));
      out.add(Arguments.of(c, Inpainting.withResampling(new Resampling(3, 3))));
      out.add(Arguments.of(c, new Inpainting(new Strength(0.6), new Resampling(2, 2))));
    }
    return out.stream();
  }

  @Test
  void thePathIsDiffusersRePaintSchedule() {
    int[][] settings = {
      // N, start, jump length, jump_n_sample
      {10, 0, 3, 3},
      {25, 0, 10, 10},
      {20, 0, 10, 10},
      {30, 5, 4, 2},
      {10, 0, 1, 3},
      {12, 0, 5, 1},
      {250, 0, 10, 10}
    };
    for (int[] s : settings) {
      assertThat(new Resampling(s[2], s[3]).path(s[0], s[1]))
          .as("N %s, start %s, jump length %s, count %s", s[0], s[1], s[2], s[3])
          .containsExactly(ReferenceEditing.repaintPath(s[0], s[1], s[2], s[3]));
    }
    assertThat(Resampling.none().path(10, 4)).containsExactly(4, 5, 6, 7, 8, 9);
    // the paper's setting runs about count times the steps
    assertThat(Resampling.repaint().path(250, 0)).hasSize(250 + 24 * 9 * 10);
  }

  /**
   * Tolerance 1e-5 + 1e-5 |x|: the errors seen are below 3e-7 on outputs of size about 1 (float32
   * rounding of up to 56 steps); pasting the known region at the step's own level instead of the
   * next one's moves results by more than 1.8e-2, jumping back without the resampling noise by more
   * than 0.4. The kept pixels must be the original's exactly.
   */
  @ParameterizedTest(name = "{0}, {1}")
  @MethodSource("cases")
  void bothLoopsMatchRePaintInPlainJava(Case c, Inpainting inpainting) {
    SamplingPlan plan = c.plan();
    int n = plan.steps();
    int start = inpainting.strength().startStep(n);
    int[] path = inpainting.path(plan);
    assertThat(path)
        .containsExactly(
            ReferenceEditing.repaintPath(
                n, start, inpainting.resampling().jumpLength(), inpainting.resampling().count()));
    int steps = path.length;
    float[] image = EditingHarness.image(1);
    float[] startNoise = RowNoiseValues.draw(SEEDS, IMAGE, RowNoise.START_COUNTER)[0];
    float[][] stepNoise = RowNoiseValues.draw(SEEDS, IMAGE, RowNoiseValues.counters(1, steps));
    float[][] known =
        RowNoiseValues.draw(
            SEEDS, IMAGE, RowNoiseValues.counters(RowNoise.KNOWN_REGION_COUNTERS, steps));
    float[][] jump =
        RowNoiseValues.draw(
            SEEDS, IMAGE, RowNoiseValues.counters(RowNoise.RESAMPLING_COUNTERS, steps));
    double[] x0 = EditingHarness.widen(image);
    double[] startX =
        inpainting.strength().full()
            ? EditingHarness.widen(startNoise)
            : ReferenceEditing.qSample(
                REFERENCE.alphasCumprod[c.reference().timesteps()[start]],
                x0,
                EditingHarness.widen(startNoise));
    double[] expected =
        ReferenceEditing.run(
            c.reference(),
            REFERENCE.alphasCumprod,
            path,
            startX,
            EditingHarness::mixingDummy,
            new ReferenceEditing.Noise(stepNoise, known, jump),
            PIXELS,
            x0,
            EditingHarness.widen(MASK));
    for (boolean host : new boolean[] {false, true}) {
      float[] actual =
          EditingHarness.run(
              (tf, seeds) ->
                  inpainting.trajectory(
                      tf,
                      plan,
                      IMAGE,
                      EditingHarness.constant(tf, image, 1),
                      EditingHarness.constant(tf, MASK, 1),
                      seeds),
              SEEDS,
              EditingHarness.MIXING_DUMMY,
              tf -> List.of(),
              host);
      String what = c + ", " + inpainting + (host ? ", host loop" : ", compiled loop");
      ArrayAsserts.assertClose(what, actual, expected, 1e-5, 1e-5);
      for (int e = 0; e < actual.length; e++) {
        if (MASK[e % PIXELS] == 0) {
          assertThat(actual[e]).as("%s: kept pixel %s", what, e).isEqualTo(image[e % PIXELS]);
        }
      }
    }
  }

  /**
   * The strength as a run-time input (an export's) gives what the fixed strength gives, compared
   * with the fixed-strength trajectory (itself checked against RePaint in plain Java above), the
   * kept pixels exactly the original's.
   */
  @Test
  void theStrengthAtRunTimeGivesWhatTheFixedStrengthGives() {
    float[] image = EditingHarness.image(1);
    for (Case c : List.of(EditingHarness.DDIM, EditingHarness.DPMPP)) {
      SamplingPlan plan = c.plan();
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        Placeholder<TFloat64> strength =
            tf.placeholder(TFloat64.class, Placeholder.shape(Shape.scalar()));
        ImageToImage.AtRuntime edit =
            Inpainting.atRuntime(
                tf,
                plan,
                IMAGE,
                strength,
                EditingHarness.constant(tf, image, 1),
                EditingHarness.constant(tf, MASK, 1),
                tf.constant(SEEDS));
        Operand<TFloat32> samples =
            SamplingLoop.compiled(
                    tf,
                    edit.trajectory(),
                    edit.steps(),
                    IMAGE,
                    EditingHarness.MIXING_DUMMY,
                    java.util.Map.of(),
                    List.of())
                .samples();
        try (Session s = new Session(g)) {
          for (double value : new double[] {1, 0.7, 0.3, 0.1}) {
            float[] fixed =
                EditingHarness.run(
                    (f, seeds) ->
                        new Inpainting(new Strength(value), Resampling.none())
                            .trajectory(
                                f,
                                plan,
                                IMAGE,
                                EditingHarness.constant(f, image, 1),
                                EditingHarness.constant(f, MASK, 1),
                                seeds),
                    SEEDS,
                    EditingHarness.MIXING_DUMMY,
                    f -> List.of(),
                    false);
            try (TFloat64 fed = TFloat64.scalarOf(value);
                Result r = s.runner().feed(strength, fed).fetch(samples).run()) {
              float[] actual = TensorIO.toFloats(r.get(0));
              assertThat(actual).as("%s, strength %s at run time", c, value).containsExactly(fixed);
              for (int e = 0; e < actual.length; e++) {
                if (MASK[e % PIXELS] == 0) {
                  assertThat(actual[e]).as("kept pixel %s", e).isEqualTo(image[e % PIXELS]);
                }
              }
            }
          }
          try (TFloat64 fed = TFloat64.scalarOf(0.05)) {
            assertThatThrownBy(() -> s.runner().feed(strength, fed).fetch(samples).run().close())
                .hasMessageContaining("strength must be in (0, 1]");
          }
        }
      }
    }
  }

  @Test
  void badInputIsRejectedWithTheFix() {
    SamplingPlan plan = EditingHarness.DDIM.plan();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      var seeds = tf.constant(SEEDS);
      Operand<TFloat32> image = zeros(tf, 2, 4, 4, 1);
      Inpainting inpainting = Inpainting.plain();
      assertThatThrownBy(
              () -> inpainting.trajectory(tf, plan, IMAGE, image, zeros(tf, 1, 8, 8, 1), seeds))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("the mask is 8×8 but the image is 4×4: give a mask of the image's size");
      assertThatThrownBy(
              () -> inpainting.trajectory(tf, plan, IMAGE, image, zeros(tf, 1, 4, 4, 3), seeds))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("the mask has 3 channels but the image has 1: give a 1-channel mask");
      assertThatThrownBy(
              () -> inpainting.trajectory(tf, plan, IMAGE, image, zeros(tf, 3, 4, 4, 1), seeds))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "there are 3 masks for 2 images: give 1 mask (used for every image) or one per"
                  + " image");
      assertThatThrownBy(
              () ->
                  inpainting.trajectory(
                      tf, plan, IMAGE, zeros(tf, 2, 5, 4, 1), zeros(tf, 1, 5, 4, 1), seeds))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "the image to inpaint is 5×4 but the model makes 4×4 images: resize it to 4×4");
      assertThatThrownBy(
              () ->
                  Inpainting.withResampling(new Resampling(10, 2))
                      .trajectory(tf, plan, IMAGE, image, zeros(tf, 1, 4, 4, 1), seeds))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("RePaint's jump length (10) must be below the steps that run (10)");
    }
    assertThatThrownBy(() -> EditImages.checkMaskValues(new float[] {0, 1, 255}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("mask values must be in [0, 1] (1 = regenerate, 0 = keep)")
        .hasMessageContaining("got 255.0 at index 2: divide 8-bit masks by 255");
    assertThatThrownBy(() -> new Resampling(0, 3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("jump length must be >= 1 step, got 0");
    assertThatThrownBy(() -> new Resampling(3, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("resample count must be >= 1 (1 = no resampling), got 0");
  }

  private static Operand<TFloat32> zeros(Ops tf, int... shape) {
    return tf.ensureShape(
        tf.zeros(tf.constant(shape), TFloat32.class),
        Shape.of(Arrays.stream(shape).asLongStream().toArray()));
  }
}
