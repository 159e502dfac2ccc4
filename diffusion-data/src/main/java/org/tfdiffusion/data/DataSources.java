package org.tfdiffusion.data;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Opens a training dataset from a command-line style specification.
 *
 * <table>
 *   <caption>What a specification means</caption>
 *   <tr><th>spec</th><th>dataset</th></tr>
 *   <tr><td>null, blank or {@code embedded}</td><td>the embedded Fashion-MNIST subset
 *       ({@link FashionMnistSubset}): 2000 images 28×28×1, 10 classes</td></tr>
 *   <tr><td>a folder with IDX files ({@code train-images-idx3-ubyte[.gz]} ...)</td><td>the
 *       {@link DataOptions#split()} of that IDX dataset, e.g. {@code
 *       /usr/share/datasets/fashion-mnist}</td></tr>
 *   <tr><td>an IDX images file</td><td>that file with the labels file next to it</td></tr>
 *   <tr><td>any other folder</td><td>the PNG and JPEG images under it, labelled by
 *       first-level sub-folder</td></tr>
 * </table>
 *
 * <p>Everything is read and checked here, before any training starts: missing or bad data throws a
 * {@link DataException} whose message names the file and the fix. With {@link DataOptions#fit()}
 * the result has the model's shape. A folder literally named {@code embedded} is reached as {@code
 * ./embedded}.
 */
public final class DataSources {
  /** The specification of the embedded subset. */
  public static final String EMBEDDED = "embedded";

  private DataSources() {}

  /** {@link #open(String, DataOptions)} with {@link DataOptions#defaults()}. */
  public static ImageDataset open(String spec) {
    return open(spec, DataOptions.defaults());
  }

  /**
   * Loads the dataset {@code spec} names (see the class documentation) and fits it to {@code
   * options.fit()} when present.
   *
   * @throws DataException when the data is missing or bad; the message names the file and the fix
   */
  public static ImageDataset open(String spec, DataOptions options) {
    if (spec == null || spec.isBlank() || spec.trim().toLowerCase(Locale.ROOT).equals(EMBEDDED)) {
      return embedded(options);
    }
    Path path;
    try {
      path = Path.of(spec);
    } catch (InvalidPathException e) {
      throw new DataException(
          "'"
              + spec
              + "' is not a valid path ("
              + e.getMessage()
              + "); give a folder or 'embedded'",
          e);
    }
    if (!Files.exists(path)) {
      throw new DataException(
          String.format(
              "%s: no such file or folder; give a folder of PNG/JPEG images, a folder with IDX"
                  + " files (e.g. /usr/share/datasets/fashion-mnist after apt-get install"
                  + " dataset-fashion-mnist), or 'embedded'",
              path.toAbsolutePath().normalize()));
    }
    if (Files.isDirectory(path)) {
      if (IdxDatasets.isIdxFolder(path)) {
        return fit(IdxDatasets.load(path, options), options);
      }
      return ImageFolders.load(path, options);
    }
    if (Files.isRegularFile(path) && path.getFileName().toString().contains("-images")) {
      return fit(IdxDatasets.load(path, options), options);
    }
    throw new DataException(
        String.format(
            "%s: a file, but neither an IDX images file nor a folder; give the folder that holds"
                + " the images (or the IDX files), or 'embedded'",
            path));
  }

  /** The embedded Fashion-MNIST subset, fitted to {@code options.fit()} when present. */
  public static ImageDataset embedded(DataOptions options) {
    return fit(FashionMnistSubset.load(), options);
  }

  private static ImageDataset fit(ImageDataset dataset, DataOptions options) {
    return options.fit().map(f -> f.apply(dataset)).orElse(dataset);
  }
}
