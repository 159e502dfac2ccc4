package org.tfdiffusion.eval;

import java.nio.file.Files;
import java.nio.file.Path;
import org.tfdiffusion.data.DataException;
import org.tfdiffusion.data.DataOptions;
import org.tfdiffusion.data.DataSources;
import org.tfdiffusion.data.FashionMnistSubset;
import org.tfdiffusion.data.ImageDataset;
import org.tfdiffusion.data.KnownDataset;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.eval.classifier.FashionClassifier;

/**
 * The real Fashion-MNIST images that evaluation compares with: a split of the four IDX files
 * (Debian's {@code /usr/share/datasets/fashion-mnist} by default) or the embedded 2000-image subset
 * (which has one split only, the first 2000 test images, so "train" and "test" are the same images
 * there: for tests and smoke runs, not for figures).
 */
public final class FashionMnistData {
  /** Where {@code apt-get install dataset-fashion-mnist} puts the files. */
  public static final Path DEBIAN = FashionMnistSubset.DEBIAN_FOLDER;

  private FashionMnistData() {}

  /**
   * Loads one split.
   *
   * @param spec null for Debian's folder, {@code embedded}, or a folder with the IDX files
   * @throws IllegalArgumentException when the data is missing (naming the apt-get command) or is
   *     not 28×28×1 with 10 labelled classes
   */
  public static ImageDataset load(String spec, Split split) {
    return load(spec, split, DEBIAN);
  }

  /** {@link #load(String, Split)} with Debian's folder at {@code debian} (for tests). */
  public static ImageDataset load(String spec, Split split, Path debian) {
    if (spec == null && !Files.isDirectory(debian)) {
      throw new IllegalArgumentException(
          "Fashion-MNIST is not installed at "
              + debian
              + ": run  apt-get install dataset-fashion-mnist  (Debian/Ubuntu), or give --data"
              + " FOLDER with the four IDX files (train-images-idx3-ubyte.gz, ...)");
    }
    ImageDataset data;
    try {
      data =
          DataSources.open(
              spec == null ? debian.toString() : spec,
              DataOptions.defaults().withSplit(split).withDataset(KnownDataset.FASHION_MNIST));
    } catch (DataException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
    if (!data.labelled()
        || data.height() != FashionClassifier.IMAGE_SIZE
        || data.width() != FashionClassifier.IMAGE_SIZE
        || data.channels() != FashionClassifier.CHANNELS
        || data.numClasses() != FashionClassifier.CLASSES) {
      throw new IllegalArgumentException(
          "evaluation needs Fashion-MNIST (labelled 28x28x1 images of 10 classes), got "
              + data
              + "; give --data with the Fashion-MNIST IDX files");
    }
    return data;
  }

  /** Whether {@code spec} names the embedded subset. */
  public static boolean embedded(String spec) {
    return spec != null && spec.trim().equalsIgnoreCase(DataSources.EMBEDDED);
  }
}
