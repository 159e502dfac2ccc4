package org.tfdiffusion.data;

import com.google.common.collect.ImmutableList;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.tfdiffusion.naming.Named;

/**
 * Which dataset a set of IDX files holds, for the names of its classes. MNIST and Fashion-MNIST
 * share the file format and the file names, so the files alone cannot tell them apart.
 *
 * <p>{@link #AUTO} (the default) decides from the path: a folder (or file) whose absolute path
 * contains {@code fashion} (any case; Debian's {@code /usr/share/datasets/fashion-mnist/} does) is
 * {@link #FASHION_MNIST}; anything else with labels 0..9 is {@link #MNIST} (class names "0".."9");
 * anything else is {@link #GENERIC}. Give the dataset explicitly when the path does not say.
 */
public enum KnownDataset implements Named {
  /** Decide from the path, see the class documentation. */
  AUTO(List.of()),
  /** Fashion-MNIST (Zalando): 10 classes of clothing. */
  FASHION_MNIST(
      List.of(
          "T-shirt/top",
          "Trouser",
          "Pullover",
          "Dress",
          "Coat",
          "Sandal",
          "Shirt",
          "Sneaker",
          "Bag",
          "Ankle boot")),
  /** MNIST handwritten digits: classes "0".."9". */
  MNIST(List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")),
  /** Any IDX dataset: classes named "0".."k-1", where k - 1 is the largest label. */
  GENERIC(List.of());

  private final ImmutableList<String> classNames;

  KnownDataset(List<String> classNames) {
    this.classNames = ImmutableList.copyOf(classNames);
  }

  /** The fixed class names of this dataset; empty for {@link #AUTO} and {@link #GENERIC}. */
  public List<String> fixedClassNames() {
    return classNames;
  }

  /** A name for messages and descriptions, e.g. {@code Fashion-MNIST}. */
  public String displayName() {
    return switch (this) {
      case AUTO -> "auto";
      case FASHION_MNIST -> "Fashion-MNIST";
      case MNIST -> "MNIST";
      case GENERIC -> "IDX";
    };
  }

  /**
   * Resolves {@link #AUTO} for data at {@code source} whose largest label is {@code maxLabel}; any
   * other value is returned as is.
   */
  KnownDataset resolve(String source, int maxLabel) {
    if (this != AUTO) {
      return this;
    }
    if (source.toLowerCase(Locale.ROOT).contains("fashion")) {
      return FASHION_MNIST;
    }
    return maxLabel < MNIST.classNames.size() ? MNIST : GENERIC;
  }

  /** Resolves {@link #AUTO} for data at {@code source}; see {@link #resolve(String, int)}. */
  KnownDataset resolve(Path source, int maxLabel) {
    return resolve(source.toAbsolutePath().normalize().toString(), maxLabel);
  }

  /**
   * The class names for labels up to {@code maxLabel}: the fixed names of a known dataset, or
   * "0".."maxLabel" for {@link #GENERIC}. Call on a resolved value.
   */
  List<String> classNames(int maxLabel) {
    if (this == GENERIC || this == AUTO) {
      List<String> names = new ArrayList<>();
      for (int k = 0; k <= maxLabel; k++) {
        names.add(Integer.toString(k));
      }
      return names;
    }
    return classNames;
  }

  /**
   * The value named {@code name}, case-insensitive, with {@code -} or {@code _}: {@code auto},
   * {@code fashion-mnist}, {@code mnist}, {@code generic}.
   *
   * @throws IllegalArgumentException for any other name
   */
  public static KnownDataset lookup(String name) {
    return Named.lookup(KnownDataset.class, "dataset", name);
  }

  @Override
  public List<String> names() {
    return List.of(name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'));
  }
}
