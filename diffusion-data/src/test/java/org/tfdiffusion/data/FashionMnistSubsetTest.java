package org.tfdiffusion.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FashionMnistSubsetTest {

  @Test
  void embeddedSubsetLoads() {
    ImageDataset data = FashionMnistSubset.load();
    assertThat(data.size()).isEqualTo(2000);
    assertThat(data.height()).isEqualTo(28);
    assertThat(data.width()).isEqualTo(28);
    assertThat(data.channels()).isEqualTo(1);
    assertThat(data.labelled()).isTrue();
    assertThat(data.classNames()).hasSize(10).startsWith("T-shirt/top").endsWith("Ankle boot");
    int[] counts = data.classCounts();
    assertThat(counts).hasSize(10);
    assertThat(Arrays.stream(counts).min().getAsInt()).isGreaterThan(150);
    // the first t10k image is an ankle boot, the second a pullover (upstream README)
    assertThat(data.label(0)).isEqualTo(9);
    assertThat(data.label(1)).isEqualTo(2);
    // real pictures: dark background corners, bright pixels somewhere
    assertThat(data.pixel(0, 0, 0, 0)).isZero();
    int max = 0;
    for (byte b : data.pixels(0)) {
      max = Math.max(max, b & 0xFF);
    }
    assertThat(max).isGreaterThan(200);
    assertThat(data.description()).contains("embedded Fashion-MNIST subset");
  }

  @Test
  void shipsTheLicenceNotice() throws Exception {
    try (InputStream in =
        FashionMnistSubset.class.getResourceAsStream(FashionMnistSubset.FOLDER + "LICENSE.txt")) {
      assertThat(in).isNotNull();
      String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      assertThat(text)
          .contains("Zalando SE", "Permission is hereby granted", "first 2000 images", "t10k");
    }
  }

  @Test
  void subsetIsTheFirst2000ImagesOfDebianT10k(@TempDir Path dir) throws Exception {
    assumeTrue(
        Files.isDirectory(FashionMnistSubset.DEBIAN_FOLDER),
        "needs apt-get install dataset-fashion-mnist");
    ImageDataset fromDebian = FashionMnistSubset.fromFolder(FashionMnistSubset.DEBIAN_FOLDER);
    ImageDataset embedded = FashionMnistSubset.load();
    assertThat(embedded.rawPixels()).isEqualTo(fromDebian.rawPixels());
    assertThat(embedded.rawLabels()).isEqualTo(fromDebian.rawLabels());
    // the generator reproduces the committed files byte for byte
    FashionMnistSubset.main(
        new String[] {FashionMnistSubset.DEBIAN_FOLDER.toString(), dir.toString()});
    for (String name : new String[] {FashionMnistSubset.IMAGES, FashionMnistSubset.LABELS}) {
      assertThat(Files.readAllBytes(dir.resolve(name))).isEqualTo(resource(name));
    }
  }

  private static byte[] resource(String name) throws Exception {
    try (InputStream in =
        FashionMnistSubset.class.getResourceAsStream(FashionMnistSubset.FOLDER + name)) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      in.transferTo(out);
      return out.toByteArray();
    }
  }
}
