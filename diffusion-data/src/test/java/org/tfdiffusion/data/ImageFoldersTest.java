package org.tfdiffusion.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.tfdiffusion.data.TestData.gray;
import static org.tfdiffusion.data.TestData.solidRgb;
import static org.tfdiffusion.data.TestData.writeImage;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFoldersTest {
  @TempDir Path dir;

  private static final DataOptions DEFAULTS = DataOptions.defaults();

  /** An RGB image of h×w whose pixel (y, x) is (10 y + x, 100 + y, 200 - x). */
  private static BufferedImage rgbPattern(int h, int w) {
    BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        image.setRGB(x, y, ((10 * y + x) << 16) | ((100 + y) << 8) | (200 - x));
      }
    }
    return image;
  }

  @Test
  void labelsFromSortedFirstLevelSubFolders() throws Exception {
    Path root = dir.resolve("pets");
    writeImage(root.resolve("dogs"), "b.png", solidRgb(2, 3, 0x102030));
    writeImage(root.resolve("dogs/puppies"), "a.png", solidRgb(2, 3, 0x405060));
    writeImage(root.resolve("cats"), "z.PNG", rgbPattern(2, 3));
    Files.createDirectories(root.resolve("empty-class"));
    Files.writeString(root.resolve("cats/notes.txt"), "not an image");
    writeImage(root.resolve(".thumbnails"), "t.png", solidRgb(2, 3, 0));

    ImageDataset data = ImageFolders.load(root, DEFAULTS);
    assertThat(data.classNames()).containsExactly("cats", "dogs");
    assertThat(data.size()).isEqualTo(3);
    assertThat(data.channels()).isEqualTo(3);
    // sorted relative paths: cats/z.PNG, dogs/b.png, dogs/puppies/a.png
    assertThat(data.labels()).hasValueSatisfying(l -> assertThat(l).containsExactly(0, 1, 1));
    for (int y = 0; y < 2; y++) {
      for (int x = 0; x < 3; x++) {
        assertThat(data.pixel(0, y, x, 0)).isEqualTo(10 * y + x);
        assertThat(data.pixel(0, y, x, 1)).isEqualTo(100 + y);
        assertThat(data.pixel(0, y, x, 2)).isEqualTo(200 - x);
      }
    }
    assertThat(data.pixel(1, 1, 2, 0)).isEqualTo(0x10);
    assertThat(data.pixel(2, 0, 0, 2)).isEqualTo(0x60);
    assertThat(data.description()).contains("image folder", "pets", "2 classes");
  }

  @Test
  void imagesDirectlyInTheFolderAreUnlabelledGrayscale() throws Exception {
    Path root = dir.resolve("flat");
    writeImage(root, "1.png", gray(2, 2, 0, 50, 100, 255));
    writeImage(root, "2.png", gray(2, 2, 1, 2, 3, 4));
    ImageDataset data = ImageFolders.load(root, DEFAULTS);
    assertThat(data.labelled()).isFalse();
    assertThat(data.channels()).isEqualTo(1);
    assertThat(data.pixels(0)).containsExactly(0, 50, 100, (byte) 255);
    assertThat(data.image(0))
        .containsExactly(-1f, (float) (50 / 127.5 - 1), (float) (100 / 127.5 - 1), 1f);
  }

  @Test
  void readsJpegGrayAndRgb() throws Exception {
    Path root = dir.resolve("jpeg");
    writeImage(root.resolve("gray"), "g.jpg", gray(8, 8, new int[64]));
    writeImage(root.resolve("gray2"), "h.jpeg", gray(8, 8, filled(64, 180)));
    ImageDataset gray = ImageFolders.load(root, DEFAULTS);
    assertThat(gray.channels()).isEqualTo(1);
    assertThat(gray.pixel(1, 4, 4, 0)).isBetween(178, 182); // JPEG is lossy
    Path rgbRoot = dir.resolve("jpeg-rgb");
    writeImage(rgbRoot, "c.jpg", solidRgb(8, 8, 0xC83214)); // (200, 50, 20)
    ImageDataset rgb = ImageFolders.load(rgbRoot, DEFAULTS);
    assertThat(rgb.channels()).isEqualTo(3);
    assertThat(rgb.pixel(0, 3, 3, 0)).isBetween(195, 205);
    assertThat(rgb.pixel(0, 3, 3, 1)).isBetween(45, 55);
    assertThat(rgb.pixel(0, 3, 3, 2)).isBetween(15, 25);
  }

  @Test
  void readsSixteenBitAndOneBitGrayPng() throws Exception {
    Path root = dir.resolve("depths");
    BufferedImage deep = new BufferedImage(2, 1, BufferedImage.TYPE_USHORT_GRAY);
    deep.getRaster().setSample(0, 0, 0, 65535);
    deep.getRaster().setSample(1, 0, 0, 0x8080);
    writeImage(root, "a16.png", deep);
    BufferedImage binary = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_BINARY);
    binary.getRaster().setSample(1, 0, 0, 1);
    writeImage(root, "b1.png", binary);
    ImageDataset data = ImageFolders.load(root, DEFAULTS);
    assertThat(data.channels()).isEqualTo(1);
    assertThat(data.pixels(0)).containsExactly((byte) 255, (byte) 128);
    assertThat(data.pixels(1)).containsExactly(0, (byte) 255);
  }

  @Test
  void fitsEveryImageToTheModel() throws Exception {
    Path root = dir.resolve("sizes");
    writeImage(root, "big.png", solidRgb(4, 6, 0xFF0000));
    writeImage(root, "small.png", solidRgb(1, 1, 0x00FF00));
    // without a model size the two sizes cannot share a tensor
    assertThatThrownBy(() -> ImageFolders.load(root, DEFAULTS))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(root.resolve("small.png") + " is 1x1")
        .hasMessageContaining(root.resolve("big.png") + " is 4x6")
        .hasMessageContaining("--image-size");
    ImageDataset data = ImageFolders.load(root, DEFAULTS.withFit(ImageFit.to(2, 1)));
    assertThat(data.height()).isEqualTo(2);
    assertThat(data.channels()).isEqualTo(1);
    // red -> luma 76; green -> 150; both center-cropped / enlarged to 2x2
    assertThat(data.pixels(0)).containsExactly(76, 76, 76, 76);
    assertThat(data.pixels(1)).containsExactly(150, 150, 150, 150);
    assertThat(data.description()).contains("fitted to 2x2x1");
  }

  @Test
  void mixedChannelCountsNameTheOddFileUnlessConverting() throws Exception {
    Path root = dir.resolve("mixed");
    writeImage(root.resolve("a"), "1.png", solidRgb(2, 2, 0x010203));
    writeImage(root.resolve("a"), "2.png", gray(2, 2, 9, 9, 9, 9));
    writeImage(root.resolve("b"), "3.png", solidRgb(2, 2, 0x040506));
    assertThatThrownBy(() -> ImageFolders.load(root, DEFAULTS))
        .isInstanceOf(DataException.class)
        .hasMessageContaining("mixed channel counts")
        .hasMessageContaining(root.resolve("a/2.png") + " is grayscale (1 channel)")
        .hasMessageContaining("2 other images (e.g. " + root.resolve("a/1.png") + ") are RGB")
        .hasMessageContaining("--convert-channels");
    // with a model size, still an error unless asked
    assertThatThrownBy(() -> ImageFolders.load(root, DEFAULTS.withFit(ImageFit.to(2, 3))))
        .hasMessageContaining(root.resolve("a/2.png").toString());

    ImageDataset converted = ImageFolders.load(root, DEFAULTS.withConvertMixedChannels(true));
    assertThat(converted.channels()).isEqualTo(3);
    assertThat(converted.pixels(1)).containsOnly(9);
    assertThat(converted.pixels(2)).startsWith(4, 5, 6);
  }

  @Test
  void unreadableImageIsNamed() throws Exception {
    Path root = dir.resolve("broken");
    writeImage(root, "good.png", gray(1, 1, 0));
    Files.write(root.resolve("bad.png"), new byte[] {1, 2, 3, 4, 5});
    assertThatThrownBy(() -> ImageFolders.load(root, DEFAULTS))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(root.resolve("bad.png").toString())
        .hasMessageContaining("unreadable image")
        .hasMessageContaining("replace or delete");
    // a PNG cut short
    byte[] png = Files.readAllBytes(writeImage(root, "bad.png", gray(4, 4, new int[16])));
    Files.write(root.resolve("bad.png"), Arrays.copyOf(png, png.length / 2));
    assertThatThrownBy(() -> ImageFolders.load(root, DEFAULTS))
        .hasMessageContaining(root.resolve("bad.png").toString())
        .hasMessageContaining("unreadable image");
  }

  @Test
  void emptyFolderIsAnError() throws Exception {
    Path root = Files.createDirectories(dir.resolve("nothing/sub"));
    Files.writeString(root.resolve("readme.txt"), "no images");
    assertThatThrownBy(() -> ImageFolders.load(dir.resolve("nothing"), DEFAULTS))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(dir.resolve("nothing").toString())
        .hasMessageContaining("empty dataset, no PNG or JPEG images found");
  }

  @Test
  void imagesAtTheRootAndInSubFoldersAreAmbiguous() throws Exception {
    Path root = dir.resolve("both");
    writeImage(root, "stray.png", gray(1, 1, 0));
    writeImage(root.resolve("cats"), "c.png", gray(1, 1, 0));
    assertThatThrownBy(() -> ImageFolders.load(root, DEFAULTS))
        .isInstanceOf(DataException.class)
        .hasMessageContaining("stray.png")
        .hasMessageContaining("cats/c.png")
        .hasMessageContaining("put every image in a sub-folder");
  }

  @Test
  void missingFolderIsNamed() {
    Path missing = dir.resolve("does-not-exist");
    assertThatThrownBy(() -> ImageFolders.load(missing, DEFAULTS))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(missing.toString())
        .hasMessageContaining("no such folder");
  }

  private static int[] filled(int n, int v) {
    int[] values = new int[n];
    Arrays.fill(values, v);
    return values;
  }
}
