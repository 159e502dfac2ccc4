package org.tfdiffusion.data;

import com.google.common.collect.ImmutableList;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Loads an IDX dataset (MNIST, Fashion-MNIST and the like) from a folder with the standard files,
 * {@code train-images-idx3-ubyte}, {@code train-labels-idx1-ubyte}, {@code t10k-images-idx3-ubyte}
 * and {@code t10k-labels-idx1-ubyte}, each plain or {@code .gz}. Also accepted: a dot before {@code
 * idx} ({@code train-images.idx3-ubyte}), a prefix ({@code emnist-digits-train-...}), and {@code
 * test} for {@code t10k}. When a file is there both plain and gzipped, the plain one is read.
 */
final class IdxDatasets {
  /** prefix-, split, images|labels, -|., idxN-ubyte, optional .gz. */
  private static final Pattern IDX_NAME =
      Pattern.compile("(?:(.+)-)?(train|t10k|test)-(images|labels)[-.]idx(\\d)-ubyte(\\.gz)?");

  private IdxDatasets() {}

  /** Whether {@code folder} holds at least one file named like an IDX image or label file. */
  static boolean isIdxFolder(Path folder) {
    try (Stream<Path> files = Files.list(folder)) {
      return files.anyMatch(f -> IDX_NAME.matcher(f.getFileName().toString()).matches());
    } catch (IOException e) {
      throw new DataException(folder + ": cannot list the folder (" + e + "); check permissions");
    }
  }

  /**
   * Loads the split {@code options.split()} of the IDX files in {@code folder}, or, when {@code
   * path} is an images file, that file and the labels file next to it.
   */
  static ImageDataset load(Path path, DataOptions options) {
    Path imagesFile;
    Path labelsFile;
    if (Files.isDirectory(path)) {
      imagesFile = find(path, options.split(), "images");
      labelsFile = find(path, options.split(), "labels");
    } else {
      imagesFile = path;
      labelsFile = labelsNextTo(path);
    }
    IdxFiles.Images images = IdxFiles.readImages(imagesFile);
    byte[] labels = IdxFiles.readLabels(labelsFile);
    Path source = Files.isDirectory(path) ? path : path.getParent();
    KnownDataset dataset = options.dataset().resolve(source, maxLabel(labels));
    String description =
        String.format(
            "%s %s split from %s",
            dataset.displayName(), splitName(imagesFile), source.toAbsolutePath().normalize());
    return assemble(
        images,
        labels,
        imagesFile.toString(),
        labelsFile.toString(),
        dataset,
        guessedGeneric(options.dataset(), dataset),
        description);
  }

  /**
   * Loads an IDX images stream and its labels stream; {@code imagesName} and {@code labelsName}
   * name them in messages.
   */
  static ImageDataset load(
      InputStream images,
      String imagesName,
      InputStream labels,
      String labelsName,
      KnownDataset dataset,
      String description) {
    IdxFiles.Images read = IdxFiles.readImages(images, imagesName);
    byte[] labelBytes = IdxFiles.readLabels(labels, labelsName);
    KnownDataset resolved = dataset.resolve(imagesName, maxLabel(labelBytes));
    return assemble(
        read,
        labelBytes,
        imagesName,
        labelsName,
        resolved,
        guessedGeneric(dataset, resolved),
        description);
  }

  /**
   * Whether the classes are only guessed from the labels: {@link KnownDataset#AUTO} found no
   * dataset name in the path and labels beyond MNIST's, so the class count is the largest label
   * plus one, and one damaged label would make it anything up to 256.
   */
  private static boolean guessedGeneric(KnownDataset requested, KnownDataset resolved) {
    return requested == KnownDataset.AUTO && resolved == KnownDataset.GENERIC;
  }

  /**
   * Refuses a largest label that stands apart from the others: the classes of a guessed dataset are
   * 0..max, so labels 0..9 and one 200 would make 201 classes of which 190 have no image. A largest
   * label with no label right below it is a damaged byte, not a class.
   */
  private static void checkLargestLabel(byte[] labels, int max, String labelsName) {
    boolean[] used = new boolean[max + 1];
    for (byte b : labels) {
      used[b & 0xFF] = true;
    }
    int below = max - 1;
    while (below >= 0 && !used[below]) {
      below--;
    }
    if (below < max - 1) {
      throw new DataException(
          String.format(
              "%s: label %d (at index %d) is out of range: the other labels end at %d, so classes"
                  + " %d..%d would have no image; the labels file is damaged, %s",
              labelsName,
              max,
              firstIndexOf(labels, max),
              below,
              below + 1,
              max - 1,
              IdxFiles.REDOWNLOAD));
    }
  }

  /** The index of the first label equal to {@code label}. */
  private static int firstIndexOf(byte[] labels, int label) {
    for (int i = 0; i < labels.length; i++) {
      if ((labels[i] & 0xFF) == label) {
        return i;
      }
    }
    return -1;
  }

  private static ImageDataset assemble(
      IdxFiles.Images images,
      byte[] labelBytes,
      String imagesName,
      String labelsName,
      KnownDataset dataset,
      boolean guessed,
      String description) {
    if (images.count() == 0) {
      throw new DataException(
          imagesName + ": empty dataset, the file holds 0 images; use a file with images");
    }
    if (images.count() != labelBytes.length) {
      throw new DataException(
          String.format(
              "%s has %d images but %s has %d labels; the two files must be a matching pair"
                  + " (same split of the same dataset), re-download the one that is wrong",
              imagesName, images.count(), labelsName, labelBytes.length));
    }
    int max = maxLabel(labelBytes);
    List<String> names = dataset.classNames(max);
    if (max >= names.size()) {
      throw new DataException(
          String.format(
              "%s: label %d (at index %d) is outside the %d classes of %s (%s): the labels file is"
                  + " damaged or belongs to another dataset; %s (a folder whose path does not"
                  + " name a dataset loads with classes 0..%d)",
              labelsName,
              max,
              firstIndexOf(labelBytes, max),
              names.size(),
              dataset.displayName(),
              names,
              IdxFiles.REDOWNLOAD,
              max));
    }
    if (guessed) {
      checkLargestLabel(labelBytes, max, labelsName);
    }
    int[] labels = new int[labelBytes.length];
    for (int i = 0; i < labels.length; i++) {
      labels[i] = labelBytes[i] & 0xFF;
    }
    return ImageDataset.create(
        images.height(),
        images.width(),
        images.channels(),
        images.pixels(),
        labels,
        names,
        description);
  }

  private static int maxLabel(byte[] labels) {
    int max = 0;
    for (byte b : labels) {
      max = Math.max(max, b & 0xFF);
    }
    return max;
  }

  /** The one file in {@code folder} for (split, kind), preferring plain over {@code .gz}. */
  private static Path find(Path folder, Split split, String kind) {
    String expected =
        String.format(
            "%s-%s-idx%d-ubyte[.gz]",
            split.filePrefixes().get(0), kind, kind.equals("images") ? 3 : 1);
    return find(
        folder,
        m -> split.filePrefixes().contains(m.group(2)) && m.group(3).equals(kind),
        kind + " file for the " + split.name().toLowerCase(Locale.ROOT) + " split",
        expected,
        "add it, or choose the other split (--split)");
  }

  /** The labels file that belongs to an images file: same prefix and split, "labels". */
  private static Path labelsNextTo(Path imagesFile) {
    Matcher image = IDX_NAME.matcher(imagesFile.getFileName().toString());
    if (!image.matches() || !image.group(3).equals("images")) {
      throw new DataException(
          String.format(
              "%s: not named like an IDX images file (e.g. train-images-idx3-ubyte.gz), so its"
                  + " labels file cannot be found; give the folder, or rename the file",
              imagesFile));
    }
    String prefix = image.group(1) == null ? "" : image.group(1) + "-";
    return find(
        imagesFile.toAbsolutePath().getParent(),
        m ->
            Objects.equals(m.group(1), image.group(1))
                && m.group(2).equals(image.group(2))
                && m.group(3).equals("labels"),
        "labels file for " + imagesFile.getFileName(),
        prefix + image.group(2) + "-labels-idx1-ubyte[.gz]",
        "add it next to the images file");
  }

  private static Path find(
      Path folder, Predicate<Matcher> wanted, String what, String expected, String fix) {
    List<Path> all;
    try (Stream<Path> files = Files.list(folder)) {
      all = files.filter(Files::isRegularFile).sorted().collect(Collectors.toList());
    } catch (IOException e) {
      throw new DataException(folder + ": cannot list the folder (" + e + "); check permissions");
    }
    List<Path> matches = new ArrayList<>();
    List<String> idxNames = new ArrayList<>();
    for (Path f : all) {
      Matcher m = IDX_NAME.matcher(f.getFileName().toString());
      if (m.matches()) {
        idxNames.add(f.getFileName().toString());
        if (wanted.test(m)) {
          matches.add(f);
        }
      }
    }
    if (matches.isEmpty()) {
      throw new DataException(
          String.format(
              "%s: no %s, expected %s (IDX files there: %s); %s",
              folder,
              what,
              expected,
              idxNames.isEmpty() ? "none" : String.join(", ", idxNames),
              fix));
    }
    List<String> distinct =
        matches.stream()
            .map(f -> f.getFileName().toString().replaceFirst("\\.gz$", ""))
            .distinct()
            .collect(Collectors.toList());
    if (distinct.size() > 1) {
      throw new DataException(
          String.format(
              "%s: several candidates for the %s (%s); keep one dataset per folder",
              folder, what, ImmutableList.copyOf(matches)));
    }
    // sorted: "x" before "x.gz", so the plain file comes first
    return matches.get(0);
  }

  private static String splitName(Path imagesFile) {
    Matcher m = IDX_NAME.matcher(imagesFile.getFileName().toString());
    return m.matches() ? m.group(2) : "?";
  }
}
