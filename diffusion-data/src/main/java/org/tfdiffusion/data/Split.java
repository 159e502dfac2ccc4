package org.tfdiffusion.data;

import com.google.common.collect.ImmutableList;
import java.util.List;
import org.tfdiffusion.naming.Named;

/**
 * Which half of an IDX dataset to load. MNIST and Fashion-MNIST name their files {@code train-*}
 * (60000 images) and {@code t10k-*} (10000 images); EMNIST-style files use {@code test-*}, accepted
 * for {@link #TEST} as well.
 */
public enum Split implements Named {
  /** The training split, files {@code train-images-idx3-ubyte[.gz]} and labels. The default. */
  TRAIN("train"),
  /** The test split, files {@code t10k-images-idx3-ubyte[.gz]} (or {@code test-...}). */
  TEST("t10k", "test");

  private final ImmutableList<String> filePrefixes;

  Split(String... filePrefixes) {
    this.filePrefixes = ImmutableList.copyOf(filePrefixes);
  }

  /** The file name prefixes of this split, the standard one first. */
  public List<String> filePrefixes() {
    return filePrefixes;
  }

  /**
   * The split named {@code name}, case-insensitive: {@code train}, or {@code test} / {@code t10k}.
   *
   * @throws IllegalArgumentException for any other name
   */
  public static Split lookup(String name) {
    return Named.lookup(Split.class, "split", name);
  }

  @Override
  public List<String> names() {
    return this == TRAIN ? List.of("train") : List.of("test", "t10k");
  }
}
