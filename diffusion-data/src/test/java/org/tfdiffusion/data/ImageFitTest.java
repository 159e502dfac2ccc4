package org.tfdiffusion.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Every expected value below is worked out by hand from the formulas in {@link ImageFit}. */
class ImageFitTest {

  /** Fits one h×w×c image given as row-major values and returns the result's values. */
  private static int[] fit(ImageFit fit, int h, int w, int c, int... values) {
    byte[] src = new byte[values.length];
    for (int k = 0; k < values.length; k++) {
      src[k] = (byte) values[k];
    }
    ImageDataset in = ImageDataset.unlabelled(h, w, c, src, "tiny");
    ImageDataset out = fit.apply(in);
    byte[] bytes = out.pixels(0);
    int[] result = new int[bytes.length];
    for (int k = 0; k < bytes.length; k++) {
      result[k] = bytes[k] & 0xFF;
    }
    return result;
  }

  @Test
  void padCentresOnBackground() {
    ImageFit pad = ImageFit.to(4, 1).withMode(FitMode.PAD);
    assertThat(fit(pad, 2, 2, 1, 10, 20, 30, 40))
        .containsExactly(
            0, 0, 0, 0, //
            0, 10, 20, 0, //
            0, 30, 40, 0, //
            0, 0, 0, 0);
    // odd margins: the extra background goes to the bottom and the right
    assertThat(fit(ImageFit.to(2, 1).withMode(FitMode.PAD), 1, 1, 1, 200))
        .containsExactly(200, 0, 0, 0);
  }

  @Test
  void padRefusesLargerImagesNamingTheSource() {
    ImageFit pad = ImageFit.to(2, 1).withMode(FitMode.PAD);
    assertThatThrownBy(() -> fit(pad, 3, 3, 1, new int[9]))
        .isInstanceOf(DataException.class)
        .hasMessageContaining("tiny")
        .hasMessageContaining("3x3, larger than the 2x2 model")
        .hasMessageContaining("center-crop or resize");
  }

  @Test
  void autoPadsIdxDataThatFitsAndCropsOtherwise() {
    ImageFit auto = ImageFit.to(32, 1);
    assertThat(auto.resolve(28, 28, false)).isEqualTo(FitMode.PAD);
    assertThat(auto.resolve(32, 32, false)).isEqualTo(FitMode.PAD);
    assertThat(auto.resolve(40, 40, false)).isEqualTo(FitMode.CENTER_CROP);
    assertThat(auto.resolve(28, 28, true)).isEqualTo(FitMode.CENTER_CROP);
    assertThat(auto.withMode(FitMode.RESIZE).resolve(28, 28, false)).isEqualTo(FitMode.RESIZE);
    // 28 -> 32 by AUTO: two pixels of background on each side, the rest exact
    int[] values = new int[28 * 28];
    for (int p = 0; p < values.length; p++) {
      values[p] = 1 + p % 250;
    }
    int[] out = fit(auto, 28, 28, 1, values);
    for (int y = 0; y < 32; y++) {
      for (int x = 0; x < 32; x++) {
        boolean inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        assertThat(out[y * 32 + x]).isEqualTo(inside ? values[(y - 2) * 28 + (x - 2)] : 0);
      }
    }
  }

  @Test
  void centerCropTakesTheMiddleSquare() {
    ImageFit crop = ImageFit.to(2, 1).withMode(FitMode.CENTER_CROP);
    // wide 2x4: columns 1..2
    assertThat(fit(crop, 2, 4, 1, 1, 2, 3, 4, 5, 6, 7, 8)).containsExactly(2, 3, 6, 7);
    // tall 4x2: rows 1..2
    assertThat(fit(crop, 4, 2, 1, 1, 2, 3, 4, 5, 6, 7, 8)).containsExactly(3, 4, 5, 6);
    // 4x6 into 2: crop columns 1..4 (a 4x4 square), then area-shrink by 2 (means of 2x2 blocks)
    int[] wide = {
      99, 0, 4, 8, 12, 99, //
      99, 4, 8, 12, 16, 99, //
      99, 40, 40, 80, 80, 99, //
      99, 40, 40, 80, 80, 99
    };
    assertThat(fit(crop, 4, 6, 1, wide)).containsExactly(4, 12, 40, 80);
  }

  @Test
  void areaResizeAveragesCoveredPixels() {
    ImageFit area = ImageFit.to(2, 1).withMode(FitMode.RESIZE);
    assertThat(
            fit(
                area, 4, 4, 1, //
                0, 2, 10, 20, //
                4, 6, 30, 40, //
                100, 100, 0, 0, //
                100, 100, 0, 8))
        .containsExactly(3, 25, 100, 2);
    // 3 -> 2 columns: output 0 covers source [0, 1.5): (2 a + b) / 3; output 1: (b + 2 c) / 3.
    // 1 -> 2 rows: both output rows copy the one source row.
    assertThat(fit(area, 1, 3, 1, 30, 60, 90)).containsExactly(40, 80, 40, 80);
    // enlarging 2 -> 4 copies pixels
    assertThat(fit(ImageFit.to(4, 1).withMode(FitMode.RESIZE), 2, 2, 1, 0, 100, 150, 250))
        .containsExactly(
            0, 0, 100, 100, //
            0, 0, 100, 100, //
            150, 150, 250, 250, //
            150, 150, 250, 250);
  }

  @Test
  void bilinearResizeInterpolatesBetweenPixelCentres() {
    ImageFit bilinear =
        ImageFit.to(4, 1).withMode(FitMode.RESIZE).withResampling(Resampling.BILINEAR);
    // 2 -> 4 columns: sample positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    assertThat(fit(bilinear, 1, 2, 1, 0, 100))
        .containsExactly(
            0, 25, 75, 100, //
            0, 25, 75, 100, //
            0, 25, 75, 100, //
            0, 25, 75, 100);
    // 4 -> 2: sample positions 0.5 and 2.5 on both axes, the means of pixels (0, 1) and (2, 3)
    ImageFit down = ImageFit.to(2, 1).withMode(FitMode.RESIZE).withResampling(Resampling.BILINEAR);
    assertThat(
            fit(
                down, 4, 4, 1, //
                0, 40, 80, 120, //
                0, 40, 80, 120, //
                200, 200, 0, 0, //
                100, 100, 40, 40))
        .containsExactly(20, 100, 150, 20);
  }

  @Test
  void convertsChannels() {
    // RGB -> gray: 0.299 R + 0.587 G + 0.114 B, rounded
    ImageFit toGray = ImageFit.to(1, 1);
    assertThat(fit(toGray, 1, 1, 3, 255, 0, 0)).containsExactly(76); // 76.245
    assertThat(fit(toGray, 1, 1, 3, 0, 255, 0)).containsExactly(150); // 149.685
    assertThat(fit(toGray, 1, 1, 3, 0, 0, 255)).containsExactly(29); // 29.07
    assertThat(fit(toGray, 1, 1, 3, 100, 50, 200)).containsExactly(82); // 82.05
    assertThat(fit(toGray, 1, 1, 3, 255, 255, 255)).containsExactly(255);
    // gray -> RGB: replicate; with padding, the background is 0 in every channel
    assertThat(fit(ImageFit.to(2, 3).withMode(FitMode.PAD), 1, 1, 1, 77))
        .containsExactly(77, 77, 77, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  }

  @Test
  void keepsDatasetThatAlreadyFitsAndDescribesTheFit() {
    ImageDataset data = ImageDataset.unlabelled(2, 2, 1, new byte[4], "src");
    assertThat(ImageFit.to(2, 1).apply(data)).isSameAs(data);
    ImageDataset padded = ImageFit.to(4, 3).apply(data);
    assertThat(padded.description()).isEqualTo("src, padded 2x2x1 to 4x4x3");
    assertThat(padded.channels()).isEqualTo(3);
    assertThatThrownBy(() -> ImageFit.to(32, 2))
        .hasMessageContaining("channels must be 1 (grayscale) or 3 (RGB)");
    assertThat(FitMode.lookup("center-crop")).isEqualTo(FitMode.CENTER_CROP);
    assertThatThrownBy(() -> FitMode.lookup("stretch"))
        .hasMessage("unknown fit mode 'stretch'; valid: auto, pad, center-crop, resize");
  }
}
