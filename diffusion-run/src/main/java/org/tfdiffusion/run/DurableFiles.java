package org.tfdiffusion.run;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Writes that survive a crash or a power cut: what is renamed into place is first forced to disk
 * (every file and folder of it), and the folder that holds the new name is forced after the rename,
 * so after a crash a name points either to the old content or to the complete new one, never to
 * files whose data the disk has not got yet.
 */
public final class DurableFiles {
  /** Forces a file's or a folder's content to disk (fsync). */
  @FunctionalInterface
  public interface FileSync {
    /** Forces {@code path} (a regular file or a folder) to the storage device. */
    void force(Path path) throws IOException;

    /** The real one: {@link FileChannel#force} on the file or the folder. */
    FileSync DISK = DurableFiles::forceToDisk;
  }

  private DurableFiles() {}

  private static void forceToDisk(Path path) throws IOException {
    try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
      channel.force(true);
    } catch (IOException e) {
      if (!Files.isDirectory(path)) {
        throw e;
      }
      // some file systems cannot open or sync folders; the files themselves were synced
    }
  }

  /** Forces every file and folder under {@code root} (itself included), deepest first. */
  public static void syncTree(Path root, FileSync sync) throws IOException {
    List<Path> all;
    try (Stream<Path> walk = Files.walk(root)) {
      all = walk.sorted(Comparator.reverseOrder()).toList();
    }
    for (Path p : all) {
      sync.force(p);
    }
  }

  /**
   * Renames {@code from} to {@code to} atomically (replacing a file there when {@code replace}),
   * then forces the folder that holds {@code to}, so that the new name survives a crash.
   */
  public static void rename(Path from, Path to, boolean replace, FileSync sync) throws IOException {
    if (replace) {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } else {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
    }
    sync.force(to.toAbsolutePath().getParent());
  }

  /**
   * Replaces {@code file} with {@code content} durably: written to a hidden sibling of this
   * process's own, forced, renamed over the file, and the folder forced.
   */
  public static void write(Path file, byte[] content, FileSync sync) throws IOException {
    Path tmp =
        file.resolveSibling(
            "." + file.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
    try {
      Files.write(tmp, content);
      sync.force(tmp);
      rename(tmp, file, true, sync);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Writes a file's content to the path it is given. */
  @FunctionalInterface
  public interface ContentWriter {
    void writeTo(Path path) throws IOException;
  }

  /**
   * Replaces {@code file} with what {@code writer} writes, durably: its folder created if needed,
   * the content written to a hidden sibling of this process's own, forced, renamed over the file,
   * and the folder forced. A failed write leaves the old file as it was and no temporary behind.
   */
  public static void replace(Path file, ContentWriter writer) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    Path tmp =
        parent.resolve(
            "."
                + file.getFileName()
                + "."
                + ProcessHandle.current().pid()
                + "-"
                + Thread.currentThread().getId()
                + ".tmp");
    try {
      writer.writeTo(tmp);
      FileSync.DISK.force(tmp);
      rename(tmp, file.toAbsolutePath(), true, FileSync.DISK);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** {@link #write(Path, byte[], FileSync)} of UTF-8 text, forced to disk. */
  public static void writeString(Path file, String content) throws IOException {
    write(file, content.getBytes(StandardCharsets.UTF_8), FileSync.DISK);
  }
}
