package org.tfdiffusion.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Signature;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.run.EditInputs;
import org.tfdiffusion.run.EditMode;
import org.tfdiffusion.run.ImageSampler;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.editing.Inpainting;
import org.tfdiffusion.sampling.editing.Resampling;
import org.tfdiffusion.sampling.editing.Strength;

/**
 * The export's {@code img2img} and {@code inpaint} signatures, loaded with {@link
 * SavedModelBundle}, against the Java path that the CLI's {@code sample --init/--mask} runs: an
 * {@link ImageSampler} opened on the run with the {@link EditMode} of the same strength, for the
 * same seeds, images and masks.
 */
class EditSignaturesTest {
  private static final int SIZE = 28;
  private static final int PIXELS = SIZE * SIZE;
  private static final long[] SEEDS = {3, 11};
  private static final int[] LABELS = {1, 8};
  private static final float[] GUIDANCE = {3f, 1f};

  /** What a loaded export and the in-process sampler may differ by (as ModelExporterTest). */
  private static final double TOLERANCE = 1e-5;

  @TempDir static Path dir;
  static Path run;
  static ModelExporter.Exported exported;

  @BeforeAll
  static void export() {
    run = TinyRun.get();
    exported = TinyRun.export(dir, "edits", () -> {});
  }

  /** Two different images in [0, 1], [2, 28, 28, 1], neither constant. */
  private static float[] images() {
    float[] out = new float[2 * PIXELS];
    for (int e = 0; e < out.length; e++) {
      out[e] = (float) (0.5 + 0.5 * Math.sin(0.37 * e + 1.3 * (e / PIXELS)));
    }
    return out;
  }

  /** Two masks [2, 28, 28, 1]: the left half regenerated in the first, the top in the second. */
  private static float[] masks() {
    float[] out = new float[2 * PIXELS];
    for (int y = 0; y < SIZE; y++) {
      for (int x = 0; x < SIZE; x++) {
        out[y * SIZE + x] = x < SIZE / 2 ? 1 : 0;
        out[PIXELS + y * SIZE + x] = y < SIZE / 2 ? 1 : y == SIZE / 2 ? 0.5f : 0;
      }
    }
    return out;
  }

  /** The Java path: an ImageSampler on the run with {@code mode}, one image per seed. */
  private static float[] inProcess(EditMode mode, EditInputs inputs) {
    try (ImageSampler sampler =
        ImageSampler.open(
            run,
            TrainedModel.Weights.EMA,
            DpmSolverPlusPlusSampler.of(TinyRun.STEPS),
            mode,
            false,
            0,
            SessionOptions.defaults())) {
      return sampler.sample(SEEDS, LABELS, GUIDANCE, inputs, i -> {}).pixels();
    }
  }

  /** Calls a signature of the loaded export with the seeds, labels, guidance and {@code more}. */
  private static float[] exported(
      SavedModelBundle bundle, String signature, Map<String, Tensor> more) {
    try (TInt64 s = TensorIO.longs(SEEDS);
        TInt32 l = TInt32.vectorOf(LABELS);
        TFloat32 w = TFloat32.vectorOf(GUIDANCE)) {
      Map<String, Tensor> feeds = new HashMap<>(more);
      feeds.put("seed", s);
      feeds.put("class_label", l);
      feeds.put("guidance_scale", w);
      try (Result r = bundle.function(signature).call(feeds)) {
        return TensorIO.toFloats(r.get("images").orElseThrow());
      }
    }
  }

  private static void assertClose(String what, float[] actual, float[] expected) {
    assertThat(actual).as(what).hasSameSizeAs(expected);
    double maxDiff = 0;
    for (int i = 0; i < actual.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    }
    assertThat(maxDiff).as("%s: largest difference", what).isLessThanOrEqualTo(TOLERANCE);
  }

  @Test
  void imageToImageGivesWhatTheJavaSamplerGivesForEachStrength() {
    float[] images = images();
    try (SavedModelBundle bundle = SavedModelBundle.load(exported.directory().toString(), "serve");
        TFloat32 pixels = TensorIO.floats(Shape.of(2, SIZE, SIZE, 1), images)) {
      for (double strength : new double[] {0.5, 0.75, 1}) {
        float[] expected = inProcess(EditMode.imageToImage(strength), EditInputs.image(images, 2));
        try (TFloat64 s = TFloat64.scalarOf(strength)) {
          float[] actual =
              exported(bundle, ModelExporter.IMG2IMG, Map.of("images", pixels, "strength", s));
          assertClose("img2img at strength " + strength, actual, expected);
        }
      }
      // strength 1 is plain sampling of the same seeds, the image unused
      float[] plain;
      try (ImageSampler sampler =
          ImageSampler.open(
              run,
              TrainedModel.Weights.EMA,
              DpmSolverPlusPlusSampler.of(TinyRun.STEPS),
              false,
              0,
              SessionOptions.defaults())) {
        plain = sampler.sample(SEEDS, LABELS, GUIDANCE, i -> {}).pixels();
      }
      try (TFloat64 s = TFloat64.scalarOf(1.0)) {
        assertClose(
            "img2img at strength 1 and plain sampling",
            exported(bundle, ModelExporter.IMG2IMG, Map.of("images", pixels, "strength", s)),
            plain);
      }
      // a lower strength stays closer to the image
      try (TFloat64 low = TFloat64.scalarOf(0.25);
          TFloat64 full = TFloat64.scalarOf(1.0)) {
        double near =
            distance(
                exported(bundle, ModelExporter.IMG2IMG, Map.of("images", pixels, "strength", low)),
                images);
        double far =
            distance(
                exported(bundle, ModelExporter.IMG2IMG, Map.of("images", pixels, "strength", full)),
                images);
        assertThat(near).isLessThan(far);
      }
    }
  }

  @Test
  void inpaintingGivesWhatTheJavaSamplerGivesAndKeepsTheUnmaskedPixels() {
    float[] images = images();
    float[] masks = masks();
    try (SavedModelBundle bundle = SavedModelBundle.load(exported.directory().toString(), "serve");
        TFloat32 pixels = TensorIO.floats(Shape.of(2, SIZE, SIZE, 1), images);
        TFloat32 mask = TensorIO.floats(Shape.of(2, SIZE, SIZE, 1), masks)) {
      for (double strength : new double[] {1, 0.5}) {
        float[] expected =
            inProcess(
                EditMode.inpaint(new Inpainting(new Strength(strength), Resampling.none())),
                EditInputs.inpaint(images, 2, masks, 2));
        try (TFloat64 s = TFloat64.scalarOf(strength)) {
          float[] actual =
              exported(
                  bundle,
                  ModelExporter.INPAINT,
                  Map.of("images", pixels, "mask", mask, "strength", s));
          assertClose("inpaint at strength " + strength, actual, expected);
          for (int e = 0; e < actual.length; e++) {
            if (masks[e] == 0) {
              assertThat(actual[e])
                  .as("kept pixel %s", e)
                  .isCloseTo(images[e], org.assertj.core.data.Offset.offset(1e-6f));
            }
          }
        }
      }
    }
  }

  /**
   * inpaint_repaint gives what the Java sampler gives with RePaint's resampling at the export's
   * jump length and count, keeps the unmasked pixels, and differs from plain inpainting (the
   * resampling runs).
   */
  @Test
  void repaintGivesWhatTheJavaSamplerGivesWithTheSameResampling() {
    float[] images = images();
    float[] masks = masks();
    Resampling repaint = ModelExporter.repaintFor(TinyRun.STEPS);
    assertThat(repaint.active()).isTrue();
    float[] expected =
        inProcess(
            EditMode.inpaint(Inpainting.withResampling(repaint)),
            EditInputs.inpaint(images, 2, masks, 2));
    float[] plain =
        inProcess(
            EditMode.inpaint(new Inpainting(new Strength(1), Resampling.none())),
            EditInputs.inpaint(images, 2, masks, 2));
    try (SavedModelBundle bundle = SavedModelBundle.load(exported.directory().toString(), "serve");
        TFloat32 pixels = TensorIO.floats(Shape.of(2, SIZE, SIZE, 1), images);
        TFloat32 mask = TensorIO.floats(Shape.of(2, SIZE, SIZE, 1), masks)) {
      float[] actual =
          exported(bundle, ModelExporter.INPAINT_REPAINT, Map.of("images", pixels, "mask", mask));
      assertClose("inpaint_repaint", actual, expected);
      double moved = 0;
      for (int e = 0; e < actual.length; e++) {
        moved = Math.max(moved, Math.abs(actual[e] - plain[e]));
        if (masks[e] == 0) {
          assertThat(actual[e])
              .as("kept pixel %s", e)
              .isCloseTo(images[e], org.assertj.core.data.Offset.offset(1e-6f));
        }
      }
      assertThat(moved).as("resampling changes the regenerated pixels").isGreaterThan(1e-3);
    }
    assertThat(ModelExporter.repaintFor(20)).isEqualTo(new Resampling(10, 10));
    assertThat(ModelExporter.repaintFor(7)).isEqualTo(new Resampling(3, 10));
  }

  @Test
  void signaturesHaveTheDocumentedInputsAndOutputs() {
    try (SavedModelBundle bundle =
        SavedModelBundle.load(exported.directory().toString(), "serve")) {
      Map<String, Signature> byKey = new HashMap<>();
      bundle.signatures().forEach(s -> byKey.put(s.key(), s));
      Signature img2img = byKey.get(ModelExporter.IMG2IMG);
      Signature inpaint = byKey.get(ModelExporter.INPAINT);
      assertThat(img2img.methodName()).isEqualTo(ModelExporter.PREDICT);
      assertThat(img2img.getInputs().keySet())
          .containsExactlyInAnyOrder("seed", "images", "strength", "class_label", "guidance_scale");
      assertThat(inpaint.getInputs().keySet())
          .containsExactlyInAnyOrder(
              "seed", "images", "mask", "strength", "class_label", "guidance_scale");
      assertThat(img2img.getInputs().get("images").dataType).isEqualTo(DataType.DT_FLOAT);
      assertThat(img2img.getInputs().get("images").shape.asArray())
          .containsExactly(-1, SIZE, SIZE, 1);
      assertThat(img2img.getInputs().get("strength").dataType).isEqualTo(DataType.DT_DOUBLE);
      assertThat(img2img.getInputs().get("strength").shape.asArray()).isEmpty();
      assertThat(inpaint.getInputs().get("mask").shape.asArray())
          .containsExactly(-1, SIZE, SIZE, 1);
      for (Signature s : new Signature[] {img2img, inpaint}) {
        assertThat(s.getOutputs().keySet()).containsExactlyInAnyOrder("images", "images_png_bytes");
        assertThat(s.getOutputs().get("images_png_bytes").dataType).isEqualTo(DataType.DT_STRING);
      }
    }
  }

  @Test
  void badInputsFailWithTheRangeNamed() {
    float[] images = images();
    float[] tooBright = images.clone();
    tooBright[5] = 255;
    float[] badMask = masks();
    badMask[7] = 2;
    try (SavedModelBundle bundle = SavedModelBundle.load(exported.directory().toString(), "serve");
        TFloat32 pixels = TensorIO.floats(Shape.of(2, SIZE, SIZE, 1), images);
        TFloat32 bright = TensorIO.floats(Shape.of(2, SIZE, SIZE, 1), tooBright);
        TFloat32 threeImages =
            TensorIO.floats(
                Shape.of(3, SIZE, SIZE, 1), java.util.Arrays.copyOf(images, 3 * PIXELS));
        TFloat32 mask = TensorIO.floats(Shape.of(2, SIZE, SIZE, 1), badMask);
        TFloat64 half = TFloat64.scalarOf(0.5);
        TFloat64 tooLow = TFloat64.scalarOf(0.2);
        TFloat64 tooHigh = TFloat64.scalarOf(1.5)) {
      assertThatThrownBy(
              () ->
                  exported(
                      bundle, ModelExporter.IMG2IMG, Map.of("images", pixels, "strength", tooLow)))
          .hasMessageContaining(
              "strength must be in (0, 1] and run at least one of the 4 steps (at least 0.25)");
      assertThatThrownBy(
              () ->
                  exported(
                      bundle, ModelExporter.IMG2IMG, Map.of("images", pixels, "strength", tooHigh)))
          .hasMessageContaining("strength must be in (0, 1]");
      assertThatThrownBy(
              () ->
                  exported(
                      bundle, ModelExporter.IMG2IMG, Map.of("images", bright, "strength", half)))
          .hasMessageContaining("images must be in [0, 1] (8-bit pixels divided by 255)");
      assertThatThrownBy(
              () ->
                  exported(
                      bundle,
                      ModelExporter.IMG2IMG,
                      Map.of("images", threeImages, "strength", half)))
          .hasMessageContaining("images must hold one image per seed");
      assertThatThrownBy(
              () ->
                  exported(
                      bundle,
                      ModelExporter.INPAINT,
                      Map.of("images", pixels, "mask", mask, "strength", half)))
          .hasMessageContaining("mask must be in [0, 1]");
    }
  }

  private static double distance(float[] a, float[] b) {
    double sum = 0;
    for (int i = 0; i < a.length; i++) {
      sum += (a[i] - b[i]) * (double) (a[i] - b[i]);
    }
    return Math.sqrt(sum);
  }
}
