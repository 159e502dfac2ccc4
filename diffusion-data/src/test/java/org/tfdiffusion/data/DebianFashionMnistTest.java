package org.tfdiffusion.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The real dataset, where Debian's dataset-fashion-mnist is installed; skipped elsewhere. */
class DebianFashionMnistTest {
  private static final String FOLDER = FashionMnistSubset.DEBIAN_FOLDER.toString();

  @BeforeEach
  void needsTheDebianPackage() {
    assumeTrue(
        Files.isDirectory(FashionMnistSubset.DEBIAN_FOLDER),
        "needs apt-get install dataset-fashion-mnist");
  }

  @Test
  void trainSplitByDefault() {
    ImageDataset train = DataSources.open(FOLDER);
    assertThat(train.size()).isEqualTo(60000);
    assertThat(train.height()).isEqualTo(28);
    assertThat(train.channels()).isEqualTo(1);
    assertThat(train.classNames()).hasSize(10).startsWith("T-shirt/top");
    // Fashion-MNIST is balanced: 6000 per class in train
    assertThat(train.classCounts()).containsOnly(6000);
    assertThat(train.description()).contains("Fashion-MNIST train split", FOLDER);
  }

  @Test
  void testSplitOnRequestFittedTo32() {
    ImageDataset test =
        DataSources.open(
            FOLDER, DataOptions.defaults().withSplit(Split.TEST).withFit(ImageFit.to(32, 1)));
    assertThat(test.size()).isEqualTo(10000);
    assertThat(test.height()).isEqualTo(32);
    assertThat(test.classCounts()).containsOnly(1000);
    assertThat(test.description()).contains("t10k split", "padded 28x28x1 to 32x32x1");
  }
}
