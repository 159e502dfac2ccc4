package org.tfdiffusion.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.tfdiffusion.data.TestData.imagesFile;
import static org.tfdiffusion.data.TestData.labelsFile;
import static org.tfdiffusion.data.TestData.write;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataSourcesTest {
  @TempDir Path dir;

  @Test
  void embeddedIsTheDefault() {
    assertThat(DataSources.open(null).size()).isEqualTo(2000);
    assertThat(DataSources.open(" ").size()).isEqualTo(2000);
    assertThat(DataSources.open("Embedded").description()).contains("embedded");
  }

  @Test
  void embeddedFittedTo32IsPaddedWithBackground() {
    ImageDataset raw = DataSources.open("embedded");
    ImageDataset fitted =
        DataSources.open("embedded", DataOptions.defaults().withFit(ImageFit.to(32, 3)));
    assertThat(fitted.size()).isEqualTo(2000);
    assertThat(fitted.height()).isEqualTo(32);
    assertThat(fitted.channels()).isEqualTo(3);
    assertThat(fitted.labels())
        .hasValueSatisfying(l -> assertThat(l).isEqualTo(raw.labels().get()));
    float[] image = fitted.image(7);
    for (int y = 0; y < 32; y++) {
      for (int x = 0; x < 32; x++) {
        boolean inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        float expected = inside ? ImageDataset.toModelRange(raw.pixel(7, y - 2, x - 2, 0)) : -1f;
        for (int c = 0; c < 3; c++) {
          assertThat(image[(y * 32 + x) * 3 + c]).isEqualTo(expected);
        }
      }
    }
  }

  @Test
  void dispatchesOnTheFolderContent() throws Exception {
    Path idx = dir.resolve("idx");
    write(idx, "train-images-idx3-ubyte.gz", imagesFile(3, 4, 4));
    write(idx, "train-labels-idx1-ubyte.gz", labelsFile(0, 1, 2));
    ImageDataset fromIdx = DataSources.open(idx.toString());
    assertThat(fromIdx.size()).isEqualTo(3);
    assertThat(fromIdx.description()).contains("train split");
    assertThat(DataSources.open(idx.resolve("train-images-idx3-ubyte.gz").toString()).size())
        .isEqualTo(3);
    // AUTO pads IDX data: 4 -> 8 adds two pixels of background on each side
    ImageDataset fitted =
        DataSources.open(idx.toString(), DataOptions.defaults().withFit(ImageFit.to(8, 1)));
    assertThat(fitted.pixel(0, 0, 0, 0)).isZero();
    assertThat(fitted.pixel(0, 2, 2, 0)).isEqualTo(fromIdx.pixel(0, 0, 0, 0));

    Path images = dir.resolve("images");
    int[] bright = new int[16];
    Arrays.fill(bright, 200);
    TestData.writeImage(images.resolve("x"), "a.png", TestData.gray(4, 4, bright));
    ImageDataset fromImages = DataSources.open(images.toString());
    assertThat(fromImages.classNames()).containsExactly("x");
    // AUTO center-crops image folders: 4 -> 8 enlarges instead of padding
    ImageDataset enlarged =
        DataSources.open(images.toString(), DataOptions.defaults().withFit(ImageFit.to(8, 1)));
    assertThat(enlarged.description()).contains("image folder", "fitted to 8x8x1");
    assertThat(enlarged.pixels(0)).containsOnly(200); // no background border
  }

  @Test
  void missingPathAndOtherFilesFailClearly() throws Exception {
    Path missing = dir.resolve("no/such/data");
    assertThatThrownBy(() -> DataSources.open(missing.toString()))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(missing.toString())
        .hasMessageContaining("no such file or folder")
        .hasMessageContaining("'embedded'");
    Path text = Files.writeString(dir.resolve("notes.txt"), "hello");
    assertThatThrownBy(() -> DataSources.open(text.toString()))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(text.toString())
        .hasMessageContaining("neither an IDX images file nor a folder");
  }
}
