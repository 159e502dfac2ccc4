package org.tfdiffusion.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * XLA's compiled clusters, kept between runs of the launcher. TensorFlow writes each cluster it
 * compiles to the run's own folder ({@code --tf_xla_persistent_cache_directory}, which the launcher
 * fills with copies of the kept ones) and loads the ones it finds there instead of compiling them.
 * At the end of a command, the clusters it compiled are moved into the kept folder, each only when
 * it is whole: TensorFlow writes in place, so a run killed while writing leaves a cut file, and a
 * cut file loaded later would fail that run's cluster.
 */
final class XlaCache {
  /** The folder TensorFlow writes to, this run's own (set by the launcher). */
  static final String RUN_VARIABLE = "TFDIFFUSION_XLA_CACHE_RUN";

  /** The folder kept between runs (set by the launcher). */
  static final String KEPT_VARIABLE = "TFDIFFUSION_XLA_CACHE_KEPT";

  /** The kept folder is cut back to {@link #TRIMMED_BYTES} when it grows past this. */
  static final long MAX_BYTES = 256L << 20;

  static final long TRIMMED_BYTES = 192L << 20;

  private XlaCache() {}

  /**
   * Moves the whole clusters this run compiled into the kept folder named in {@code environment},
   * then trims that folder. A cache only: any failure is one line on {@code err}.
   *
   * @return the number of clusters kept
   */
  static int keep(Map<String, String> environment, PrintStream err) {
    String run = environment.get(RUN_VARIABLE);
    String kept = environment.get(KEPT_VARIABLE);
    if (run == null || kept == null || run.isBlank() || kept.isBlank()) {
      return 0;
    }
    try {
      return keep(Path.of(run), Path.of(kept));
    } catch (IOException | RuntimeException e) {
      err.println(
          "tfdiffusion: XLA's compiled clusters were not kept in "
              + kept
              + " ("
              + e
              + "); set TFDIFFUSION_XLA_CACHE to a folder this user can write, or to nothing to"
              + " turn the cache off");
      return 0;
    }
  }

  /** {@link #keep(Map, PrintStream)} between two folders. */
  static int keep(Path run, Path kept) throws IOException {
    if (!Files.isDirectory(run)) {
      return 0;
    }
    List<Path> compiled;
    try (Stream<Path> files = Files.list(run)) {
      compiled = files.filter(XlaCache::isEntryName).sorted().toList();
    }
    int added = 0;
    for (Path entry : compiled) {
      Path target = kept.resolve(entry.getFileName().toString());
      if (Files.exists(target) || !isWhole(Files.readAllBytes(entry))) {
        continue;
      }
      Files.createDirectories(kept);
      Path partial =
          kept.resolve(".partial-" + ProcessHandle.current().pid() + "-" + target.getFileName());
      try {
        Files.copy(entry, partial, StandardCopyOption.REPLACE_EXISTING);
        // a rename: a reader sees the whole file or none (another run keeping the same cluster at
        // the same time writes the same bytes)
        Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE);
        added++;
      } catch (AtomicMoveNotSupportedException e) {
        Files.deleteIfExists(partial);
      } catch (IOException e) {
        Files.deleteIfExists(partial); // e.g. a full disk: no cut copy stays behind
        throw e;
      }
    }
    trim(kept, MAX_BYTES, TRIMMED_BYTES);
    return added;
  }

  /** XLA's entry files: {@code <key>__<fingerprints>__<device>.pb}. */
  static boolean isEntryName(Path path) {
    String name = path.getFileName().toString();
    return name.endsWith(".pb") && !name.startsWith(".") && Files.isRegularFile(path);
  }

  /**
   * Whether {@code bytes} are a whole serialized cache entry: protocol-buffer fields that end
   * exactly at the end, holding its key (field 1), its HLO module (2) and its executable (3), each
   * length-delimited. Fields are written in number order, so a file cut between fields lacks the
   * executable, and one cut inside a field ends before the field does.
   */
  static boolean isWhole(byte[] bytes) {
    boolean[] seen = new boolean[4];
    int[] at = {0};
    while (at[0] < bytes.length) {
      Optional<Long> tag = varint(bytes, at);
      if (tag.isEmpty()) {
        return false;
      }
      long field = tag.get() >>> 3;
      int wireType = (int) (tag.get() & 7);
      if (wireType == 2) {
        Optional<Long> length = varint(bytes, at);
        if (length.isEmpty() || length.get() > bytes.length - at[0]) {
          return false;
        }
        at[0] += length.get().intValue();
      } else if (wireType == 0) {
        if (varint(bytes, at).isEmpty()) {
          return false;
        }
      } else {
        return false; // the entry has no fixed-width fields
      }
      if (field >= 1 && field <= 3) {
        if (wireType != 2) {
          return false;
        }
        seen[(int) field] = true;
      }
    }
    return seen[1] && seen[2] && seen[3];
  }

  /** Reads a varint at {@code at[0]}, advancing it; empty when the bytes end inside it. */
  private static Optional<Long> varint(byte[] bytes, int[] at) {
    long value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at[0] >= bytes.length) {
        return Optional.empty();
      }
      byte b = bytes[at[0]++];
      value |= (long) (b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        return Optional.of(value);
      }
    }
    return Optional.empty();
  }

  /** Deletes the oldest entries of {@code kept} while it holds more than {@code max} bytes. */
  static void trim(Path kept, long max, long trimmed) throws IOException {
    if (!Files.isDirectory(kept)) {
      return;
    }
    record Entry(Path path, long size, FileTime modified) {}
    List<Entry> entries = new ArrayList<>();
    try (Stream<Path> files = Files.list(kept)) {
      for (Path path : files.filter(XlaCache::isEntryName).toList()) {
        entries.add(new Entry(path, Files.size(path), Files.getLastModifiedTime(path)));
      }
    }
    long total = entries.stream().mapToLong(Entry::size).sum();
    if (total <= max) {
      return;
    }
    entries.sort(Comparator.comparing(Entry::modified));
    for (Entry entry : entries) {
      if (total <= trimmed) {
        break;
      }
      Files.deleteIfExists(entry.path());
      total -= entry.size();
    }
  }
}
