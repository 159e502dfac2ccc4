package org.tfdiffusion.run;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Sample grids: layout, nearest-neighbour upscaling and row labels, pixel by pixel. */
class SampleGridTest {
  private static final int H = 4;
  private static final int W = 3;

  private static float[] images(int count, int channels, long seed) {
    Random random = new Random(seed);
    float[] out = new float[count * H * W * channels];
    for (int i = 0; i < out.length; i++) {
      out[i] = random.nextFloat();
    }
    return out;
  }

  private static int pixel(SampleGrid g, int y, int x, int k) {
    return g.pixels()[(y * g.width() + x) * g.channels() + k] & 0xff;
  }

  @Test
  void imagesSitInTheirCellsBetweenBlackBorders() {
    float[] im = images(5, 1, 1);
    SampleGrid g = SampleGrid.of(im, 5, H, W, 1, 3);
    int b = SampleGrid.BORDER;
    assertThat(g.height()).isEqualTo(2 * H + 3 * b);
    assertThat(g.width()).isEqualTo(3 * W + 4 * b);
    for (int i = 0; i < 5; i++) {
      int top = b + (i / 3) * (H + b);
      int left = b + (i % 3) * (W + b);
      for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
          assertThat(pixel(g, top + y, left + x, 0))
              .isEqualTo(Math.round(im[(i * H + y) * W + x] * 255f));
        }
      }
    }
    assertThat(pixel(g, 0, 0, 0)).as("border").isZero();
    // the sixth cell is empty
    assertThat(pixel(g, b + H + b, b + 2 * (W + b), 0)).isZero();
  }

  @Test
  void scaleRepeatsEachPixelAsABlock() {
    float[] im = images(2, 3, 2);
    int s = 3;
    SampleGrid g = SampleGrid.of(im, 2, H, W, 3, 2, s, List.of());
    int b = SampleGrid.BORDER;
    assertThat(g.height()).isEqualTo(H * s + 2 * b);
    assertThat(g.width()).isEqualTo(2 * W * s + 3 * b);
    for (int i = 0; i < 2; i++) {
      int left = b + i * (W * s + b);
      for (int y = 0; y < H * s; y++) {
        for (int x = 0; x < W * s; x++) {
          for (int k = 0; k < 3; k++) {
            float v = im[((i * H + y / s) * W + x / s) * 3 + k];
            assertThat(pixel(g, b + y, left + x, k)).isEqualTo(Math.round(v * 255f));
          }
        }
      }
    }
  }

  @Test
  void rowLabelsAreDrawnInALeftMarginAndMoveTheCells() {
    float[] im = images(4, 1, 3);
    SampleGrid plain = SampleGrid.of(im, 4, H, W, 1, 2, 2, List.of());
    SampleGrid labelled = SampleGrid.of(im, 4, H, W, 1, 2, 2, List.of("Bag", "T-shirt/top"));
    int margin = labelled.width() - plain.width();
    assertThat(margin).isGreaterThan(BitmapFont.width("T-shirt/top", 1));
    assertThat(labelled.height()).isEqualTo(plain.height());
    // the cells are the unlabelled grid's, shifted right by the margin
    for (int y = 0; y < plain.height(); y++) {
      for (int x = 0; x < plain.width(); x++) {
        assertThat(pixel(labelled, y, x + margin, 0)).isEqualTo(pixel(plain, y, x, 0));
      }
    }
    // some label pixels are lit in each row's band of the margin, none elsewhere in it
    int rowHeight = (plain.height() - SampleGrid.BORDER) / 2;
    for (int row = 0; row < 2; row++) {
      int lit = 0;
      for (int y = row * rowHeight; y < (row + 1) * rowHeight; y++) {
        for (int x = 0; x < margin; x++) {
          lit += pixel(labelled, y, x, 0) > 0 ? 1 : 0;
        }
      }
      assertThat(lit).as("label pixels of row %d", row).isPositive();
    }
  }

  @Test
  void theFontDrawsKnownGlyphs() {
    byte[] pixels = new byte[BitmapFont.HEIGHT * BitmapFont.ADVANCE * 2];
    BitmapFont.draw(pixels, BitmapFont.HEIGHT, BitmapFont.ADVANCE * 2, 1, "-I", 0, 0, 1, (byte) 1);
    StringBuilder art = new StringBuilder();
    for (int y = 0; y < BitmapFont.HEIGHT; y++) {
      for (int x = 0; x < BitmapFont.ADVANCE * 2; x++) {
        art.append(pixels[y * BitmapFont.ADVANCE * 2 + x] != 0 ? '#' : '.');
      }
      art.append('\n');
    }
    assertThat(art.toString())
        .isEqualTo(
            ".......###..\n"
                + "........#...\n"
                + "........#...\n"
                + "#####...#...\n"
                + "........#...\n"
                + "........#...\n"
                + ".......###..\n");
  }

  @Test
  void defaultScaleMakesCellsAtLeast56Pixels() {
    assertThat(SampleGrid.defaultScale(28)).isEqualTo(2);
    assertThat(SampleGrid.defaultScale(32)).isEqualTo(2);
    assertThat(SampleGrid.defaultScale(64)).isEqualTo(1);
    assertThat(SampleGrid.defaultScale(8)).isEqualTo(7);
  }

  @Test
  void badArgumentsAreRefused() {
    assertThatThrownBy(() -> SampleGrid.of(images(2, 1, 4), 2, H, W, 1, 2, 0, List.of()))
        .hasMessageContaining("--scale must be in [1, 64]");
    assertThatThrownBy(() -> SampleGrid.of(images(4, 1, 4), 4, H, W, 1, 2, 1, List.of("a")))
        .hasMessageContaining("1 row labels for a grid of 2 rows");
  }
}
