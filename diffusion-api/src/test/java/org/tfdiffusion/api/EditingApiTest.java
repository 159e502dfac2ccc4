package org.tfdiffusion.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.sampling.editing.Inpainting;
import org.tfdiffusion.sampling.editing.Resampling;
import org.tfdiffusion.sampling.editing.Strength;
import org.tfdiffusion.train.TrainPreset;

/**
 * The editing API on a tiny run, against what each edit must reproduce: plain generation (strength
 * 1, the ends of an interpolation), the kept pixels of an inpainting, and the same image for a seed
 * in any batch.
 */
class EditingApiTest {
  /** float32 rounding of x ↦ 2x − 1 ↦ (x + 1) / 2. */
  private static final double ROUND_TRIP = 1e-6;

  /**
   * The same rows in batches of another size: the convolution kernels may sum in another order, in
   * float32's last bits, which the steps carry on (seen: 1e-5).
   */
  private static final double OTHER_BATCH = 1e-4;

  private static final int SIZE = 28;
  private static final int STEPS = 4;

  @TempDir static Path dir;
  static Generator generator;

  /** A gray gradient with a bright square, pixels k / 255. */
  static InputImage image;

  @BeforeAll
  static void trainTinyRun() {
    TrainConfig demo = TrainPreset.DEMO.config();
    TrainConfig tiny =
        demo.withModel(demo.model().toBuilder().baseWidth(8).levels(2).numClasses(0).build())
            .withConditioning(TrainConfig.Conditioning.none())
            .withTraining(
                demo.training().toBuilder()
                    .steps(2)
                    .batch(8, 8)
                    .sampleEvery(0)
                    .sampleCount(1)
                    .build());
    generator = Generator.open(Training.train(dir.resolve("run"), tiny));
    float[] pixels = new float[SIZE * SIZE];
    for (int y = 0; y < SIZE; y++) {
      for (int x = 0; x < SIZE; x++) {
        boolean square = y >= 8 && y < 20 && x >= 16 && x < 24;
        pixels[y * SIZE + x] = (square ? 250 : 9 * x) / 255f;
      }
    }
    image = new InputImage(SIZE, SIZE, 1, pixels);
  }

  @AfterAll
  static void close() {
    generator.close();
  }

  private static Request request(long... seeds) {
    return Request.of(seeds).withSteps(STEPS);
  }

  @Test
  void strengthOneGeneratesTheSeedsOwnImages() {
    List<GeneratedImage> plain = generator.generate(request(4, 5));
    List<GeneratedImage> edited = generator.imageToImage(request(4, 5), image, 1);
    for (int i = 0; i < 2; i++) {
      assertThat(edited.get(i).seed()).isEqualTo(plain.get(i).seed());
      assertThat(edited.get(i).pixels()).isEqualTo(plain.get(i).pixels());
    }
  }

  @Test
  void anEditOfASeedIsTheSameInAnyBatch() {
    List<GeneratedImage> batch = generator.imageToImage(request(5, 6, 7), image, 0.5);
    List<GeneratedImage> alone = generator.imageToImage(request(6), image, 0.5);
    assertClose(alone.get(0).pixels(), batch.get(1).pixels(), OTHER_BATCH);
    assertThat(maxDifference(batch.get(0).pixels(), batch.get(1).pixels())).isGreaterThan(0.1);
    // half the steps ran from the noised image: not the image from noise of the same seed
    assertThat(maxDifference(batch.get(1).pixels(), generator.generate(request(6)).get(0).pixels()))
        .isGreaterThan(0.1);
  }

  @Test
  void inpaintingKeepsTheMaskedOutPixels() {
    float[] mask = new float[SIZE * SIZE];
    for (int p = 0; p < mask.length; p++) {
      mask[p] = p % SIZE < SIZE / 2 ? 1 : 0; // the left half regenerated
    }
    InputImage m = new InputImage(SIZE, SIZE, 1, mask);
    float[] given = image.pixels();
    for (Inpainting mode :
        List.of(Inpainting.plain(), new Inpainting(new Strength(0.75), new Resampling(1, 2)))) {
      for (GeneratedImage result : generator.inpaint(request(1, 2), image, m, mode)) {
        float[] got = result.pixels();
        int regenerated = 0;
        for (int p = 0; p < got.length; p++) {
          if (mask[p] == 0) {
            assertThat((double) got[p])
                .as("%s pixel %s", mode, p)
                .isCloseTo(given[p], within(ROUND_TRIP));
          } else if (Math.abs(got[p] - given[p]) > 1 / 255.0) {
            regenerated++;
          }
        }
        assertThat(regenerated).as("%s regenerated pixels", mode).isGreaterThan(SIZE * 7);
      }
    }
  }

  @Test
  void anInterpolationEndsAtTheTwoSeedsImages() {
    List<GeneratedImage> frames = generator.interpolate(request(8, 9), 3);
    List<GeneratedImage> ends = generator.generate(request(8, 9));
    assertThat(frames).hasSize(3);
    assertClose(frames.get(0).pixels(), ends.get(0).pixels(), OTHER_BATCH);
    assertClose(frames.get(2).pixels(), ends.get(1).pixels(), OTHER_BATCH);
    assertThat(maxDifference(frames.get(1).pixels(), ends.get(0).pixels())).isGreaterThan(0.1);
    assertThat(maxDifference(frames.get(1).pixels(), ends.get(1).pixels())).isGreaterThan(0.1);
  }

  /**
   * An RGB image is brought to the gray model as training data is, by BT.601 luma: an RGB image and
   * the gray image of its luma (computed here in double) edit alike.
   */
  @Test
  void anRgbImageIsEditedAsItsLuma() {
    float[] rgb = new float[SIZE * SIZE * 3];
    float[] luma = new float[SIZE * SIZE];
    for (int p = 0; p < luma.length; p++) {
      int r = p % 256;
      int g = (3 * p) % 256;
      int b = 255 - p % 200;
      rgb[3 * p] = r / 255f;
      rgb[3 * p + 1] = g / 255f;
      rgb[3 * p + 2] = b / 255f;
      luma[p] = (float) ((0.299 * r + 0.587 * g + 0.114 * b) / 255.0);
    }
    float[] fromRgb =
        generator.imageToImage(request(3), new InputImage(SIZE, SIZE, 3, rgb), 0.5).get(0).pixels();
    float[] fromGray =
        generator
            .imageToImage(request(3), new InputImage(SIZE, SIZE, 1, luma), 0.5)
            .get(0)
            .pixels();
    // the two luma computations may differ in float32's last bit, which the steps carry on
    assertClose(fromRgb, fromGray, OTHER_BATCH);
  }

  @Test
  void badEditsAreRefusedClearly() {
    InputImage wide = new InputImage(SIZE, 40, 1, new float[SIZE * 40]);
    assertThatThrownBy(() -> generator.imageToImage(request(1), wide, 0.5))
        .hasMessageContaining("the image is 28x40 but the model makes 28x28 images");
    for (double s : new double[] {0, -0.1, 1.5, Double.NaN}) {
      assertThatThrownBy(() -> generator.imageToImage(request(1), image, s))
          .hasMessageContaining("is out of range: give a number in (0, 1]");
    }
    assertThatThrownBy(() -> generator.imageToImage(request(1), image, 0.2))
        .hasMessageContaining("runs no step");
    float[] red = new float[SIZE * SIZE * 3];
    red[0] = 1;
    assertThatThrownBy(
            () -> generator.inpaint(request(1), image, new InputImage(SIZE, SIZE, 3, red)))
        .hasMessageContaining("the mask has colours");
    assertThatThrownBy(
            () ->
                generator.inpaint(
                    request(1), image, new InputImage(SIZE, 40, 1, new float[SIZE * 40])))
        .hasMessageContaining("the mask is 28x40");
    assertThatThrownBy(() -> generator.interpolate(request(1, 2, 3), 4))
        .hasMessageContaining("give Request.of(seedA, seedB), got 3 seeds");
    assertThatThrownBy(() -> new InputImage(2, 2, 2, new float[8]))
        .hasMessageContaining("1 (gray) or 3 (RGB) channels, got 2");
    assertThatThrownBy(() -> new InputImage(1, 1, 1, new float[] {255}))
        .hasMessageContaining("divide 8-bit pixels by 255");
  }

  private static void assertClose(float[] actual, float[] expected) {
    assertClose(actual, expected, ROUND_TRIP);
  }

  private static void assertClose(float[] actual, float[] expected, double tolerance) {
    assertThat(actual).hasSameSizeAs(expected);
    for (int i = 0; i < actual.length; i++) {
      assertThat((double) actual[i]).as("pixel %s", i).isCloseTo(expected[i], within(tolerance));
    }
  }

  private static double maxDifference(float[] a, float[] b) {
    double max = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return max;
  }
}
