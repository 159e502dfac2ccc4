package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.tfdiffusion.testing.ArrayAsserts.assertClose;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.ndarray.Shape;
import org.tfdiffusion.testing.Nhwc;
import org.tfdiffusion.testing.ReferenceNn;
import org.tfdiffusion.testing.SeededWeights;

/**
 * {@link Resample} against the tutorial's {@code Upsample} (F.interpolate nearest ×2, then a 3×3
 * conv, padding 1) and {@code Downsample} (3×3 conv, stride 2, padding 1).
 */
class ResampleTest {
  /** As for {@link Conv2dTest}: 3×3×4 = 36-term float32 dot products against double. */
  private static final double REL = 1e-5;

  private static final double ABS = 1e-5;

  private static final int CHANNELS = 4;

  @ParameterizedTest(name = "{0}x{1}")
  @CsvSource({"3, 2", "4, 4", "1, 1"})
  void upIsNearestTimesTwoThenConv(int height, int width) {
    Nhwc x = Nhwc.gaussian(81, 2, height, width, CHANNELS);
    SeededWeights weights = convWeights(82, "up.conv");

    SeededWeights.LayerOutput y =
        weights.runInference(
            scope -> Resample.up(scope.child("up"), x.constant(scope.tf()), CHANNELS));

    assertThat(y.shape()).isEqualTo(Shape.of(2, 2 * height, 2 * width, CHANNELS));
    Nhwc expected =
        ReferenceNn.conv2d(
            ReferenceNn.upsampleNearest2x(x),
            weights.get("up.conv.weight"),
            weights.get("up.conv.bias"),
            3,
            CHANNELS,
            1);
    assertClose("upsample", y.values(), expected.data(), REL, ABS);
    assertThat(y.ledger().parameters().keySet()).containsExactly("up.conv.weight", "up.conv.bias");
    assertThat(y.ledger().flops())
        .containsEntry("up.conv", 2L * 9 * CHANNELS * CHANNELS * 4 * height * width);
  }

  @ParameterizedTest(name = "{0}x{1}")
  @CsvSource({"6, 6, 3, 3", "8, 4, 4, 2", "5, 7, 3, 4"})
  void downIsStrideTwoConvWithPaddingOne(int height, int width, int outHeight, int outWidth) {
    Nhwc x = Nhwc.gaussian(83, 2, height, width, CHANNELS);
    SeededWeights weights = convWeights(84, "down.conv");

    SeededWeights.LayerOutput y =
        weights.runInference(
            scope -> Resample.down(scope.child("down"), x.constant(scope.tf()), CHANNELS));

    assertThat(y.shape()).isEqualTo(Shape.of(2, outHeight, outWidth, CHANNELS));
    Nhwc expected =
        ReferenceNn.conv2d(
            x, weights.get("down.conv.weight"), weights.get("down.conv.bias"), 3, CHANNELS, 2);
    assertClose("downsample", y.values(), expected.data(), REL, ABS);
    assertThat(y.ledger().parameters().keySet())
        .containsExactly("down.conv.weight", "down.conv.bias");
  }

  @Test
  void nearestUpsamplingRepeatsEachPixelTwiceInBothDirections() {
    // Identity kernel (centre tap, zero bias): the layer's output is the upsampled map itself.
    SeededWeights weights = new SeededWeights(85);
    double[] identity = new double[9 * CHANNELS * CHANNELS];
    for (int c = 0; c < CHANNELS; c++) {
      identity[((1 * 3 + 1) * CHANNELS + c) * CHANNELS + c] = 1;
    }
    weights.values("up.conv.weight", identity, 3, 3, CHANNELS, CHANNELS);
    weights.fill("up.conv.bias", 0, CHANNELS);
    Nhwc x = Nhwc.gaussian(86, 1, 2, 3, CHANNELS);

    Nhwc y =
        weights
            .runInference(scope -> Resample.up(scope.child("up"), x.constant(scope.tf()), CHANNELS))
            .nhwc();

    for (int i = 0; i < 4; i++) {
      for (int j = 0; j < 6; j++) {
        for (int c = 0; c < CHANNELS; c++) {
          assertThat(y.get(0, i, j, c)).isEqualTo(x.get(0, i / 2, j / 2, c));
        }
      }
    }
  }

  private static SeededWeights convWeights(long seed, String prefix) {
    SeededWeights w = new SeededWeights(seed);
    w.uniform(prefix + ".weight", 1 / Math.sqrt(9.0 * CHANNELS), 3, 3, CHANNELS, CHANNELS);
    w.uniform(prefix + ".bias", 1 / Math.sqrt(9.0 * CHANNELS), CHANNELS);
    return w;
  }
}
