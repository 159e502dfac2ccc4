package org.tfdiffusion.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

class ImageDatasetTest {

  @Test
  void scalesPixelsToMinusOneOne() {
    assertThat(ImageDataset.toModelRange(0)).isEqualTo(-1f);
    assertThat(ImageDataset.toModelRange(255)).isEqualTo(1f);
    assertThat(ImageDataset.toModelRange(51)).isEqualTo((float) (51 / 127.5 - 1));
    assertThat(ImageDataset.toModelRange(51)).isCloseTo(-0.6f, within(1e-7f));
    assertThat(ImageDataset.toModelRange(204)).isCloseTo(0.6f, within(1e-7f));
    assertThatThrownBy(() -> ImageDataset.toModelRange(256))
        .isInstanceOf(IndexOutOfBoundsException.class);
  }

  @Test
  void copiesImagesScaledAndFlipped() {
    // one 2x3 RGB image: pixel (y, x) has channels (v, v + 1, v + 2), v = 30 * (3y + x)
    byte[] pixels = new byte[2 * 3 * 3];
    for (int p = 0; p < 6; p++) {
      for (int c = 0; c < 3; c++) {
        pixels[p * 3 + c] = (byte) (30 * p + c);
      }
    }
    ImageDataset data = ImageDataset.unlabelled(2, 3, 3, pixels, "test");
    float[] plain = new float[2 + 18];
    data.copyImage(0, plain, 2, false);
    float[] flipped = new float[18];
    data.copyImage(0, flipped, 0, true);
    assertThat(plain[0]).isZero();
    assertThat(plain[1]).isZero();
    for (int y = 0; y < 2; y++) {
      for (int x = 0; x < 3; x++) {
        for (int c = 0; c < 3; c++) {
          int v = 30 * (3 * y + x) + c;
          assertThat(plain[2 + (y * 3 + x) * 3 + c]).isEqualTo((float) (v / 127.5 - 1));
          // column x of the flipped image is column 2 - x of the original, channels in order
          assertThat(flipped[(y * 3 + (2 - x)) * 3 + c]).isEqualTo((float) (v / 127.5 - 1));
        }
      }
    }
    assertThat(data.pixel(0, 1, 2, 1)).isEqualTo(30 * 5 + 1);
  }

  @Test
  void keepsLabelsAndCopiesInput() {
    byte[] pixels = {0, (byte) 255, 10, 20};
    int[] labels = {1, 0, 1, 1};
    ImageDataset data =
        ImageDataset.labelled(1, 1, 1, pixels, labels, List.of("a", "b"), "four pixels");
    pixels[0] = 99;
    labels[0] = 0;
    assertThat(data.size()).isEqualTo(4);
    assertThat(data.pixel(0, 0, 0, 0)).isZero();
    assertThat(data.pixel(1, 0, 0, 0)).isEqualTo(255);
    assertThat(data.label(0)).isEqualTo(1);
    assertThat(data.classCounts()).containsExactly(1, 3);
    assertThat(data.image(1)).containsExactly(1f);
    assertThat(data.first(2).size()).isEqualTo(2);
    assertThat(data.toString()).contains("4 images 1x1x1", "2 classes", "four pixels");
  }

  @Test
  void rejectsInconsistentInput() {
    assertThatThrownBy(
            () ->
                ImageDataset.labelled(
                    1, 1, 1, new byte[2], new int[] {0, 2}, List.of("a", "b"), "x"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("label 2 of image 1 is outside [0, 2)");
    assertThatThrownBy(
            () -> ImageDataset.labelled(1, 1, 1, new byte[2], new int[] {0}, List.of("a"), "x"))
        .hasMessageContaining("2 images but 1 labels");
    assertThatThrownBy(() -> ImageDataset.unlabelled(2, 2, 1, new byte[6], "x"))
        .hasMessageContaining("not a whole number");
    assertThatThrownBy(() -> ImageDataset.unlabelled(2, 2, 2, new byte[8], "x"))
        .hasMessageContaining("channels must be 1 (grayscale) or 3 (RGB)");
    assertThatThrownBy(() -> ImageDataset.unlabelled(2, 2, 1, new byte[0], "nothing"))
        .hasMessageContaining("at least one image");
    ImageDataset unlabelled = ImageDataset.unlabelled(1, 1, 1, new byte[1], "x");
    assertThat(unlabelled.labelled()).isFalse();
    assertThat(unlabelled.labels()).isEmpty();
    assertThatThrownBy(() -> unlabelled.label(0)).isInstanceOf(IllegalStateException.class);
  }
}
