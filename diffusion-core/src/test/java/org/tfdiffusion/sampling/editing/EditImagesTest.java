package org.tfdiffusion.sampling.editing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.tensorflow.ndarray.Shape;

/** The checks on edit inputs: each bad input fails with one line naming the problem and the fix. */
class EditImagesTest {
  private static final Shape RGB = Shape.of(32, 32, 3);

  @Test
  void imagesOfTheModelsShapeAndAnyBatchPass() {
    EditImages.checkImage("init image", Shape.of(2, 32, 32, 3), RGB);
    EditImages.checkImage("init image", Shape.of(-1, 32, 32, 3), RGB);
    EditImages.checkRows("init image", Shape.of(1, 32, 32, 3), 4);
    EditImages.checkRows("init image", Shape.of(4, 32, 32, 3), 4);
    EditImages.checkMask(Shape.of(1, 32, 32, 1), Shape.of(4, 32, 32, 3));
    EditImages.checkMask(Shape.of(4, 32, 32, 3), Shape.of(4, 32, 32, 3));
    EditImages.checkImageValues("init image", new float[] {-1, 0, 1});
    EditImages.checkMaskValues(new float[] {0, 0.5f, 1});
  }

  @Test
  void aGrayscaleImageForAnRgbModelIsToldToConvert() {
    assertThatThrownBy(() -> EditImages.checkImage("init image", Shape.of(1, 32, 32, 1), RGB))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "the init image has 1 channel but the model makes 3-channel images: convert it to RGB");
  }

  @Test
  void valuesOutsideTheModelsRangeAreRejected() {
    assertThatThrownBy(() -> EditImages.checkImageValues("init image", new float[] {0, 255}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("the init image's values must be in [-1, 1], the model's range")
        .hasMessageContaining("got 255.0 at index 1");
    assertThatThrownBy(() -> EditImages.checkImageValues("init image", new float[] {Float.NaN}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("got NaN at index 0");
    assertThatThrownBy(() -> EditImages.checkMaskValues(new float[] {-0.5f}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("got -0.5 at index 0");
  }

  @Test
  void unitRangePixelsMapToTheModelsRange() {
    assertThat(EditImages.fromUnitRange(new float[] {0, 0.5f, 1})).containsExactly(-1, 0, 1);
    assertThatThrownBy(() -> EditImages.fromUnitRange(new float[] {0, 128}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "pixel values must be in [0, 1], got 128.0 at index 1: divide 8-bit pixels by 255");
  }
}
