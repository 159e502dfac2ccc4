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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class IdxDatasetsTest {
  @TempDir Path dir;

  private static final DataOptions TRAIN = DataOptions.defaults();
  private static final DataOptions TEST = DataOptions.defaults().withSplit(Split.TEST);

  /** A folder with a 5-image 3x2 train split and a 2-image test split. */
  private Path standardFolder(String name, String suffix) throws Exception {
    Path folder = dir.resolve(name);
    write(folder, "train-images-idx3-ubyte" + suffix, imagesFile(5, 3, 2));
    write(folder, "train-labels-idx1-ubyte" + suffix, labelsFile(3, 1, 4, 1, 5));
    write(folder, "t10k-images-idx3-ubyte" + suffix, imagesFile(2, 3, 2));
    write(folder, "t10k-labels-idx1-ubyte" + suffix, labelsFile(9, 0));
    return folder;
  }

  @ParameterizedTest
  @ValueSource(strings = {"", ".gz"})
  void loadsTrainSplitByDefaultAndTestOnRequest(String suffix) throws Exception {
    Path folder = standardFolder("digits", suffix);
    assertThat(IdxDatasets.isIdxFolder(folder)).isTrue();

    ImageDataset train = IdxDatasets.load(folder, TRAIN);
    assertThat(train.size()).isEqualTo(5);
    assertThat(train.height()).isEqualTo(3);
    assertThat(train.width()).isEqualTo(2);
    assertThat(train.channels()).isEqualTo(1);
    assertThat(train.labels())
        .hasValueSatisfying(l -> assertThat(l).containsExactly(3, 1, 4, 1, 5));
    byte[] expected = TestData.pattern(5, 3, 2);
    for (int i = 0; i < 5; i++) {
      assertThat(train.pixels(i)).isEqualTo(Arrays.copyOfRange(expected, i * 6, i * 6 + 6));
    }
    // image 1, row 2, column 1: (1 * 7 + 2 * 2 + 1) = 12
    assertThat(train.pixel(1, 2, 1, 0)).isEqualTo(12);
    assertThat(train.classNames())
        .containsExactly("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");
    assertThat(train.description()).contains("MNIST train split", folder.getFileName().toString());

    ImageDataset test = IdxDatasets.load(folder, TEST);
    assertThat(test.size()).isEqualTo(2);
    assertThat(test.labels()).hasValueSatisfying(l -> assertThat(l).containsExactly(9, 0));
    assertThat(test.description()).contains("t10k split");
  }

  @Test
  void namesFashionMnistClassesFromThePathOrOnRequest() throws Exception {
    Path fashion = standardFolder("my-Fashion-MNIST", ".gz");
    assertThat(IdxDatasets.load(fashion, TRAIN).classNames())
        .containsExactly(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot");
    Path plain = standardFolder("data", "");
    assertThat(IdxDatasets.load(plain, TRAIN.withDataset(KnownDataset.FASHION_MNIST)).classNames())
        .startsWith("T-shirt/top", "Trouser");
    assertThat(IdxDatasets.load(plain, TRAIN.withDataset(KnownDataset.GENERIC)).classNames())
        .containsExactly("0", "1", "2", "3", "4", "5");
  }

  @Test
  void acceptsAnImagesFileWithItsLabelsNextToIt() throws Exception {
    Path folder = standardFolder("one", ".gz");
    ImageDataset test = IdxDatasets.load(folder.resolve("t10k-images-idx3-ubyte.gz"), TRAIN);
    assertThat(test.size()).isEqualTo(2);
  }

  @Test
  void acceptsDottedNamesPrefixesAndPrefersThePlainFile() throws Exception {
    Path folder = dir.resolve("emnist");
    write(folder, "emnist-digits-train-images.idx3-ubyte", imagesFile(3, 2, 2));
    write(folder, "emnist-digits-train-labels.idx1-ubyte", labelsFile(0, 1, 2));
    assertThat(IdxDatasets.load(folder, TRAIN).size()).isEqualTo(3);

    Path both = standardFolder("both", "");
    // a damaged .gz copy next to the plain file is not read
    write(both, "train-images-idx3-ubyte.gz", new byte[] {1, 2, 3});
    assertThat(IdxDatasets.load(both, TRAIN).size()).isEqualTo(5);
  }

  @Test
  void wrongMagicNumberNamesTheFile() throws Exception {
    Path folder = standardFolder("magic", "");
    // a labels file where the images should be
    write(folder, "train-images-idx3-ubyte", labelsFile(1, 2, 3));
    assertThatThrownBy(() -> IdxDatasets.load(folder, TRAIN))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(folder.resolve("train-images-idx3-ubyte").toString())
        .hasMessageContaining("wrong magic number 0x00000801")
        .hasMessageContaining("expected 0x00000803");
    write(folder, "train-images-idx3-ubyte", imagesFile(5, 3, 2));
    write(folder, "train-labels-idx1-ubyte", imagesFile(5, 3, 2));
    assertThatThrownBy(() -> IdxDatasets.load(folder, TRAIN))
        .hasMessageContaining(folder.resolve("train-labels-idx1-ubyte").toString())
        .hasMessageContaining("wrong magic number 0x00000803 for an IDX label file");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", ".gz"})
  void truncatedImagesNameTheFile(String suffix) throws Exception {
    Path folder = standardFolder("cut" + suffix, suffix);
    byte[] whole = imagesFile(5, 3, 2);
    write(folder, "train-images-idx3-ubyte" + suffix, Arrays.copyOf(whole, whole.length - 4));
    assertThatThrownBy(() -> IdxDatasets.load(folder, TRAIN))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(folder.resolve("train-images-idx3-ubyte" + suffix).toString())
        .hasMessageContaining("truncated: the header declares 5 images of 3x2 (30 bytes of data)")
        .hasMessageContaining("only 26 bytes follow")
        .hasMessageContaining("re-download");
  }

  @Test
  void truncatedGzipAndHeaderNameTheFile() throws Exception {
    Path folder = standardFolder("gzcut", ".gz");
    Path labels = folder.resolve("train-labels-idx1-ubyte.gz");
    byte[] gz = Files.readAllBytes(labels);
    Files.write(labels, Arrays.copyOf(gz, gz.length - 12));
    assertThatThrownBy(() -> IdxDatasets.load(folder, TRAIN))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(labels.toString())
        .hasMessageContaining("truncated or corrupt");

    write(folder, "train-labels-idx1-ubyte.gz", new byte[] {0, 0, 8});
    assertThatThrownBy(() -> IdxDatasets.load(folder, TRAIN))
        .hasMessageContaining(labels.toString())
        .hasMessageContaining("truncated IDX header");
  }

  @Test
  void extraBytesAreAnError() throws Exception {
    Path folder = standardFolder("long", "");
    byte[] whole = labelsFile(3, 1, 4, 1, 5);
    write(folder, "train-labels-idx1-ubyte", Arrays.copyOf(whole, whole.length + 1));
    assertThatThrownBy(() -> IdxDatasets.load(folder, TRAIN))
        .hasMessageContaining(folder.resolve("train-labels-idx1-ubyte").toString())
        .hasMessageContaining("more data than the header declares");
  }

  @Test
  void imageAndLabelCountsMustAgree() throws Exception {
    Path folder = standardFolder("count", ".gz");
    write(folder, "train-labels-idx1-ubyte.gz", labelsFile(3, 1, 4, 1));
    assertThatThrownBy(() -> IdxDatasets.load(folder, TRAIN))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(folder.resolve("train-images-idx3-ubyte.gz") + " has 5 images")
        .hasMessageContaining(folder.resolve("train-labels-idx1-ubyte.gz") + " has 4 labels")
        .hasMessageContaining("matching pair");
  }

  @Test
  void missingFilesAreNamed() throws Exception {
    Path folder = dir.resolve("half");
    write(folder, "train-images-idx3-ubyte.gz", imagesFile(5, 3, 2));
    write(folder, "train-labels-idx1-ubyte.gz", labelsFile(3, 1, 4, 1, 5));
    assertThatThrownBy(() -> IdxDatasets.load(folder, TEST))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(folder.toString())
        .hasMessageContaining("no images file for the test split")
        .hasMessageContaining("t10k-images-idx3-ubyte[.gz]")
        .hasMessageContaining("train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz")
        .hasMessageContaining("--split");
    write(folder, "t10k-images-idx3-ubyte.gz", imagesFile(2, 3, 2));
    assertThatThrownBy(() -> IdxDatasets.load(folder, TEST))
        .hasMessageContaining("no labels file for the test split")
        .hasMessageContaining("t10k-labels-idx1-ubyte[.gz]");
    Path lone = dir.resolve("lone");
    write(lone, "t10k-images-idx3-ubyte", imagesFile(2, 3, 2));
    assertThatThrownBy(() -> IdxDatasets.load(lone.resolve("t10k-images-idx3-ubyte"), TRAIN))
        .hasMessageContaining("no labels file for t10k-images-idx3-ubyte")
        .hasMessageContaining("t10k-labels-idx1-ubyte[.gz]");
  }

  @Test
  void emptyFileIsAnError() throws Exception {
    Path folder = dir.resolve("empty");
    write(folder, "train-images-idx3-ubyte", imagesFile(0, 28, 28));
    write(folder, "train-labels-idx1-ubyte", labelsFile());
    assertThatThrownBy(() -> IdxDatasets.load(folder, TRAIN))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(folder.resolve("train-images-idx3-ubyte").toString())
        .hasMessageContaining("empty dataset");
  }

  @Test
  void labelsBeyondTheKnownClassesAreAnError() throws Exception {
    Path folder = standardFolder("fashion-wide", "");
    write(folder, "train-labels-idx1-ubyte", labelsFile(3, 1, 4, 1, 12));
    assertThatThrownBy(() -> IdxDatasets.load(folder, TRAIN))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(folder.resolve("train-labels-idx1-ubyte").toString())
        .hasMessageContaining("label 12 (at index 4) is outside the 10 classes of Fashion-MNIST")
        .hasMessageContaining("re-download");
    // given as a generic dataset, labels beyond 9 are classes: 0..12
    Path other = standardFolder("other", "");
    write(other, "train-labels-idx1-ubyte", labelsFile(3, 1, 4, 1, 12));
    assertThat(IdxDatasets.load(other, TRAIN.withDataset(KnownDataset.GENERIC)).numClasses())
        .isEqualTo(13);
  }

  /**
   * Without a dataset name in the path, the classes are 0..max of the labels; one damaged label
   * must not turn a 10-class dataset into a 201-class one.
   */
  @ParameterizedTest
  @ValueSource(strings = {"", ".gz"})
  void aDamagedLabelIsRefusedNotTakenForMoreClasses(String suffix) throws Exception {
    Path folder = dir.resolve("digits-damaged" + suffix);
    int[] labels = new int[13];
    for (int i = 0; i < labels.length; i++) {
      labels[i] = i % 10;
    }
    labels[12] = 200;
    write(folder, "train-images-idx3-ubyte" + suffix, imagesFile(13, 3, 2));
    write(folder, "train-labels-idx1-ubyte" + suffix, labelsFile(labels));
    assertThatThrownBy(() -> IdxDatasets.load(folder, TRAIN))
        .isInstanceOf(DataException.class)
        .hasMessageContaining(folder.resolve("train-labels-idx1-ubyte" + suffix).toString())
        .hasMessageContaining("label 200 (at index 12) is out of range")
        .hasMessageContaining("the other labels end at 9, so classes 10..199 would have no image")
        .hasMessageContaining("re-download");
    // a guessed dataset whose largest labels follow each other is accepted: 0..11
    labels[11] = 10;
    labels[12] = 11;
    write(folder, "train-labels-idx1-ubyte" + suffix, labelsFile(labels));
    assertThat(IdxDatasets.load(folder, TRAIN).numClasses()).isEqualTo(12);
  }
}
