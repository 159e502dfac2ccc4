package org.tfdiffusion.sampling.editing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.tfdiffusion.sampling.editing.EditingHarness.IMAGE;
import static org.tfdiffusion.sampling.editing.EditingHarness.PIXELS;
import static org.tfdiffusion.sampling.editing.EditingHarness.REFERENCE;
import static org.tfdiffusion.sampling.editing.EditingHarness.STEP_ROUNDINGS;
import static org.tfdiffusion.testing.ReferenceSamplers.FLOAT32_UNIT_ROUNDOFF;

import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
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
import org.tensorflow.types.TInt32;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.sampling.ClassifierFreeGuidance;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.sampling.editing.EditingHarness.Case;
import org.tfdiffusion.testing.ArrayAsserts;
import org.tfdiffusion.testing.ReferenceEditing;
import org.tfdiffusion.testing.ReferenceSamplers;
import org.tfdiffusion.testing.RowNoiseValues;

/**
 * Image-to-image against diffusers' pipeline written in plain Java: the start index from {@code
 * get_timesteps}, the start from {@code add_noise} at that timestep with the row's start noise,
 * then the sampler's steps from there (a multistep solver with no earlier model output), each in
 * double precision; strength 1 against plain sampling.
 */
class ImageToImageTest {
  private static final long[] SEEDS = {3, 11};
  private static final double STRENGTH = 0.6;

  /**
   * The most float32 roundings in the start x: √ᾱ and √(1 - ᾱ) as constants, their products, the
   * sum, and the reference's start rounded to float for {@link ReferenceSamplers#run}.
   */
  private static final int START_ROUNDINGS = 6;

  static Stream<Case> cases() {
    return EditingHarness.all().stream();
  }

  @Test
  void theStartStepIsDiffusersGetTimesteps() {
    int[] stepCounts = {1, 2, 3, 7, 10, 20, 25, 50, 999, 1000};
    int checked = 0;
    for (int n : stepCounts) {
      for (int percent = 1; percent <= 100; percent++) {
        double s = percent / 100.0;
        if ((int) (n * s) < 1) {
          assertThatThrownBy(() -> new Strength(s).startStep(n))
              .isInstanceOf(IllegalArgumentException.class)
              .hasMessageContaining("runs no step")
              .hasMessageContaining("raise the strength");
          continue;
        }
        assertThat(new Strength(s).startStep(n))
            .as("N = %s, s = %s", n, s)
            .isEqualTo(ReferenceEditing.startIndex(n, s));
        checked++;
      }
    }
    assertThat(checked).isGreaterThan(500);
    // float products just above and below an integer: int(10 · 0.7) = 7, int(10 · 0.29) = 2
    assertThat(new Strength(0.7).startStep(10)).isEqualTo(3);
    assertThat(new Strength(0.29).startStep(10)).isEqualTo(8);
    assertThat(new Strength(1).startStep(10)).isZero();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void strengthOneIsPlainSamplingOfTheSameSeeds(Case c) {
    SamplingPlan plan = c.plan();
    float[] image = EditingHarness.image(1);
    for (boolean host : new boolean[] {false, true}) {
      float[] edited =
          EditingHarness.run(
              (tf, seeds) ->
                  ImageToImage.of(1)
                      .trajectory(tf, plan, IMAGE, EditingHarness.constant(tf, image, 1), seeds),
              SEEDS,
              host);
      assertThat(edited)
          .as("%s, %s loop", c, host ? "host" : "compiled")
          .containsExactly(EditingHarness.plain(plan, SEEDS, host));
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void bothLoopsMatchDiffusersImageToImageInPlainJava(Case c) {
    SamplingPlan plan = c.plan();
    int n = plan.steps();
    int k = ReferenceEditing.startIndex(n, STRENGTH);
    assertThat(k).isPositive();
    float[] image = EditingHarness.image(1);
    float[][] noise = RowNoiseValues.draw(SEEDS, IMAGE, RowNoiseValues.counters(0, n - k + 1));
    double alphaBar = REFERENCE.alphasCumprod[c.reference().timesteps()[k]];
    double[] start =
        ReferenceEditing.qSample(alphaBar, EditingHarness.widen(image), widen(noise[0]));
    float[] startFloat = new float[start.length];
    for (int e = 0; e < start.length; e++) {
      startFloat[e] = (float) start[e];
    }
    float[][] stepNoise = Arrays.copyOfRange(noise, 1, n - k + 1);
    ReferenceSamplers.Run expected =
        ReferenceSamplers.run(
            ReferenceEditing.onPath(c.reference(), ReferenceEditing.tail(n, k)),
            startFloat,
            stepNoise,
            STEP_ROUNDINGS);
    double[] tolerance = new double[start.length];
    for (int e = 0; e < start.length; e++) {
      double startMagnitude =
          Math.sqrt(alphaBar) * Math.abs(image[e % PIXELS])
              + Math.sqrt(1 - alphaBar) * Math.abs(noise[0][e]);
      tolerance[e] =
          expected.roundingBound()[e]
              + expected.startSensitivity()[e]
                  * START_ROUNDINGS
                  * FLOAT32_UNIT_ROUNDOFF
                  * startMagnitude;
    }
    for (boolean host : new boolean[] {false, true}) {
      float[] actual =
          EditingHarness.run(
              (tf, seeds) ->
                  ImageToImage.of(STRENGTH)
                      .trajectory(tf, plan, IMAGE, EditingHarness.constant(tf, image, 1), seeds),
              SEEDS,
              host);
      ArrayAsserts.assertWithin(
          c + ", strength " + STRENGTH + (host ? ", host loop" : ", compiled loop"),
          actual,
          expected.x(),
          tolerance);
    }
  }

  /** The null label of the guided dummy network's two classes. */
  private static final int NULL_LABEL = 2;

  /** How much a label moves the guided dummy network's output. */
  private static final double LABEL_SHIFT = 0.05;

  /**
   * Classifier-free guidance carries through: the guided dummy network ε(x, t, y) = x · t / (t + 1)
   * + 0.05 · (y + 1), combined as uncond + w (cond - uncond) with one label and scale per row,
   * against the same combination in double. Tolerance 2e-5 + 2e-5 |x|: the errors seen are below
   * 4e-7 on outputs of size about 1 (float32 rounding of 6 to 12 steps); the two rows' scales
   * swapped move the results by more than 0.3.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void withClassifierFreeGuidanceBothLoopsMatchTheGuidedReference(Case c) {
    SamplingPlan plan = c.plan();
    int n = plan.steps();
    int k = ReferenceEditing.startIndex(n, STRENGTH);
    int[] labels = {0, 1};
    float[] scales = {3f, 0.5f};
    float[] image = EditingHarness.image(2);
    float[][] noise = RowNoiseValues.draw(SEEDS, IMAGE, RowNoiseValues.counters(0, n - k + 1));
    double alphaBar = REFERENCE.alphasCumprod[c.reference().timesteps()[k]];
    double[] start =
        ReferenceEditing.qSample(alphaBar, EditingHarness.widen(image), widen(noise[0]));
    ReferenceEditing.Network guided =
        (x, t) -> {
          double[] out = new double[x.length];
          for (int e = 0; e < x.length; e++) {
            int row = e / PIXELS;
            double uncond = ReferenceSamplers.dummyModel(x[e], t) + LABEL_SHIFT * (NULL_LABEL + 1);
            double cond = ReferenceSamplers.dummyModel(x[e], t) + LABEL_SHIFT * (labels[row] + 1);
            out[e] = uncond + scales[row] * (cond - uncond);
          }
          return out;
        };
    double[] expected =
        ReferenceEditing.run(
            c.reference(),
            REFERENCE.alphasCumprod,
            ReferenceEditing.tail(n, k),
            start,
            guided,
            new ReferenceEditing.Noise(Arrays.copyOfRange(noise, 1, n - k + 1), null, null),
            PIXELS,
            null,
            null);
    SamplingLoop.Model model =
        ClassifierFreeGuidance.guided(
            (tf, w, x, t, y) ->
                tf.math.add(
                    EditingHarness.dummy(tf, x, t),
                    tf.reshape(
                        tf.math.mul(
                            tf.constant((float) LABEL_SHIFT),
                            tf.dtypes.cast(tf.math.add(y, tf.constant(1)), TFloat32.class)),
                        tf.constant(new int[] {-1, 1, 1, 1}))),
            NULL_LABEL);
    for (boolean host : new boolean[] {false, true}) {
      float[] actual =
          EditingHarness.run(
              (tf, seeds) ->
                  ImageToImage.of(STRENGTH)
                      .trajectory(tf, plan, IMAGE, EditingHarness.constant(tf, image, 2), seeds),
              SEEDS,
              model,
              tf -> List.<Operand<?>>of(tf.constant(labels), tf.constant(scales)),
              host);
      ArrayAsserts.assertClose(
          c + ", guided, " + (host ? "host loop" : "compiled loop"), actual, expected, 2e-5, 2e-5);
    }
  }

  /** A row's result depends on its own seed and image only, wherever it sits in the batch. */
  @Test
  void aRowDependsOnlyOnItsSeedAndImage() {
    SamplingPlan plan = EditingHarness.DDIM_STOCHASTIC.plan();
    float[] images = EditingHarness.image(2);
    float[] second = Arrays.copyOfRange(images, PIXELS, 2 * PIXELS);
    float[] alone =
        EditingHarness.run(
            (tf, seeds) ->
                ImageToImage.of(STRENGTH)
                    .trajectory(tf, plan, IMAGE, EditingHarness.constant(tf, second, 1), seeds),
            new long[] {7},
            false);
    float[] pair =
        EditingHarness.run(
            (tf, seeds) ->
                ImageToImage.of(STRENGTH)
                    .trajectory(tf, plan, IMAGE, EditingHarness.constant(tf, images, 2), seeds),
            new long[] {5, 7},
            false);
    assertThat(Arrays.copyOfRange(pair, PIXELS, 2 * PIXELS)).containsExactly(alone);
    assertThat(Arrays.copyOfRange(pair, 0, PIXELS)).isNotEqualTo(alone);
  }

  /**
   * The strength as a run-time input (an export's) gives what the fixed strength gives: the same
   * start and the same steps, from a table of the plan's cuts.
   */
  @Test
  void theStrengthAtRunTimeGivesWhatTheFixedStrengthGives() {
    float[] image = EditingHarness.image(1);
    for (Case c : List.of(EditingHarness.DDIM_STOCHASTIC, EditingHarness.DPMPP)) {
      SamplingPlan plan = c.plan();
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        Placeholder<TFloat64> strength =
            tf.placeholder(TFloat64.class, Placeholder.shape(Shape.scalar()));
        ImageToImage.AtRuntime edit =
            ImageToImage.atRuntime(
                tf,
                plan,
                IMAGE,
                strength,
                EditingHarness.constant(tf, image, 1),
                tf.constant(SEEDS));
        Operand<TFloat32> samples =
            SamplingLoop.compiled(
                    tf,
                    edit.trajectory(),
                    edit.steps(),
                    IMAGE,
                    EditingHarness.DUMMY,
                    java.util.Map.of(),
                    List.of())
                .samples();
        try (Session s = new Session(g)) {
          for (double value : new double[] {1, 0.7, 0.3, 0.25, 0.1}) {
            float[] fixed =
                EditingHarness.run(
                    (f, seeds) ->
                        ImageToImage.of(value)
                            .trajectory(
                                f, plan, IMAGE, EditingHarness.constant(f, image, 1), seeds),
                    SEEDS,
                    false);
            try (TFloat64 fed = TFloat64.scalarOf(value);
                Result r = s.runner().feed(strength, fed).fetch(samples).run()) {
              assertThat(TensorIO.toFloats(r.get(0)))
                  .as("%s, strength %s at run time", c, value)
                  .containsExactly(fixed);
            }
          }
          for (double bad : new double[] {0.05, 0, 1.5}) {
            try (TFloat64 fed = TFloat64.scalarOf(bad)) {
              assertThatThrownBy(() -> s.runner().feed(strength, fed).fetch(samples).run().close())
                  .as("strength %s", bad)
                  .hasMessageContaining(
                      "strength must be in (0, 1] and run at least one of the 10 steps (at least"
                          + " 0.1)");
            }
          }
        }
      }
    }
  }

  @Test
  void badInputIsRejectedWithTheFix() {
    assertThatThrownBy(() -> new Strength(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("strength must be in (0, 1]")
        .hasMessageContaining("got 0.0");
    assertThatThrownBy(() -> ImageToImage.of(1.5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("got 1.5");
    assertThatThrownBy(() -> ImageToImage.of(Double.NaN))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("got NaN");
    SamplingPlan plan = EditingHarness.DDIM.plan();
    assertThatThrownBy(() -> new Strength(0.05).startStep(plan.steps()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("strength 0.05 with 10 steps runs no step")
        .hasMessageContaining("at least 0.1 or the steps to at least 20");
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      var seeds = tf.constant(SEEDS);
      ImageToImage edit = ImageToImage.of(0.5);
      assertThatThrownBy(() -> edit.trajectory(tf, plan, IMAGE, zeros(tf, 1, 8, 8, 1), seeds))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("the init image is 8×8 but the model makes 4×4 images: resize it to 4×4");
      assertThatThrownBy(() -> edit.trajectory(tf, plan, IMAGE, zeros(tf, 1, 4, 4, 3), seeds))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "the init image has 3 channels but the model makes 1-channel images: convert it to"
                  + " grayscale");
      assertThatThrownBy(
              () ->
                  edit.trajectory(
                      tf,
                      plan,
                      IMAGE,
                      tf.zeros(tf.constant(new int[] {4, 4, 1}), TFloat32.class),
                      seeds))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("must be a batch [B, H, W, C] (a leading axis of 1 for one image)");
      assertThatThrownBy(() -> edit.trajectory(tf, plan, IMAGE, zeros(tf, 3, 4, 4, 1), seeds))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("holds 3 images but there are 2 seeds: give one image");
    }
  }

  private static Operand<TFloat32> zeros(Ops tf, int... shape) {
    Operand<TInt32> dims = tf.constant(shape);
    return tf.ensureShape(tf.zeros(dims, TFloat32.class), Shape.of(toLongs(shape)));
  }

  private static long[] toLongs(int[] values) {
    return Arrays.stream(values).asLongStream().toArray();
  }

  private static double[] widen(float[] values) {
    return EditingHarness.widen(values);
  }
}
