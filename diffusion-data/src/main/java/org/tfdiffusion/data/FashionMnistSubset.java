package org.tfdiffusion.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The embedded default dataset: the first {@value #SIZE} images and labels of the Fashion-MNIST
 * test split ({@code t10k}), 28×28 grayscale, 10 classes, stored as IDX {@code .gz} files in this
 * package's resource folder {@code fashion-mnist-subset/} next to the MIT licence notice of
 * Fashion-MNIST (© 2017 Zalando SE). About 0.9 MB; it needs nothing installed.
 *
 * <p>To regenerate the files (byte for byte, with the same JDK's zlib) from Debian's {@code
 * dataset-fashion-mnist}:
 *
 * <pre>
 * apt-get install dataset-fashion-mnist
 * mvn -B -q -pl diffusion-data -am compile
 * java -cp diffusion-data/target/classes:diffusion-core/target/classes:$HOME/.m2/repository/com/google/guava/guava/33.5.0-jre/guava-33.5.0-jre.jar \
 *     org.tfdiffusion.data.FashionMnistSubset \
 *     /usr/share/datasets/fashion-mnist \
 *     diffusion-data/src/main/resources/org/tfdiffusion/data/fashion-mnist-subset
 * </pre>
 */
public final class FashionMnistSubset {
  /** Images in the subset. */
  public static final int SIZE = 2000;

  /** The resource folder, relative to this class. */
  static final String FOLDER = "fashion-mnist-subset/";

  static final String IMAGES = "t10k-images-idx3-ubyte.gz";
  static final String LABELS = "t10k-labels-idx1-ubyte.gz";

  /** Debian's install location of Fashion-MNIST. */
  public static final Path DEBIAN_FOLDER = Path.of("/usr/share/datasets/fashion-mnist");

  private FashionMnistSubset() {}

  /** Loads the embedded subset: 2000 images 28×28×1 with labels 0..9. */
  public static ImageDataset load() {
    try (InputStream images = open(IMAGES);
        InputStream labels = open(LABELS)) {
      return IdxDatasets.load(
          images,
          "embedded " + FOLDER + IMAGES,
          labels,
          "embedded " + FOLDER + LABELS,
          KnownDataset.FASHION_MNIST,
          "embedded Fashion-MNIST subset (first " + SIZE + " images of the t10k split)");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static InputStream open(String name) {
    InputStream in = FashionMnistSubset.class.getResourceAsStream(FOLDER + name);
    if (in == null) {
      throw new DataException(
          "embedded resource "
              + FOLDER
              + name
              + " is missing from the class path; rebuild diffusion-data (mvn -pl"
              + " diffusion-data -am package)");
    }
    return in;
  }

  /**
   * Writes the subset from a Fashion-MNIST folder.
   *
   * @param args {@code [source folder [output folder]]}: the folder with {@code
   *     t10k-images-idx3-ubyte[.gz]} and labels (default {@code /usr/share/datasets/fashion-mnist})
   *     and where to write (default: this package's resource folder under {@code
   *     diffusion-data/src/main/resources}, relative to the working directory)
   */
  public static void main(String[] args) throws IOException {
    Path source = args.length > 0 ? Path.of(args[0]) : DEBIAN_FOLDER;
    Path target =
        args.length > 1
            ? Path.of(args[1])
            : Path.of("diffusion-data/src/main/resources/org/tfdiffusion/data/" + FOLDER);
    ImageDataset subset = fromFolder(source);
    Files.createDirectories(target);
    int[] labels = subset.labels().orElseThrow();
    byte[] labelBytes = new byte[labels.length];
    for (int i = 0; i < labels.length; i++) {
      labelBytes[i] = (byte) labels[i];
    }
    byte[] pixels = Arrays.copyOf(subset.rawPixels(), SIZE * subset.valuesPerImage());
    try (OutputStream out = Files.newOutputStream(target.resolve(IMAGES))) {
      IdxFiles.writeImages(out, SIZE, subset.height(), subset.width(), pixels);
    }
    try (OutputStream out = Files.newOutputStream(target.resolve(LABELS))) {
      IdxFiles.writeLabels(out, labelBytes);
    }
    System.out.printf(
        "wrote %d images and labels from %s to %s%n", SIZE, source.toAbsolutePath(), target);
  }

  /** The first {@value #SIZE} images of the t10k split in {@code folder}. */
  static ImageDataset fromFolder(Path folder) {
    ImageDataset test =
        IdxDatasets.load(
            folder,
            DataOptions.defaults().withSplit(Split.TEST).withDataset(KnownDataset.FASHION_MNIST));
    return test.first(SIZE);
  }
}
