package org.tfdiffusion.run;

import static com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.tensorflow.Session;

/**
 * The checkpoints of a run, in TensorFlow's format, one folder per step:
 *
 * <pre>
 *   checkpoints/ckpt-000600/model        every variable: weights, ema/..., optimizer/m|v/..., global_step
 *   checkpoints/ckpt-000600/state.json   the step, the data position and the seed
 * </pre>
 *
 * A checkpoint is written into a hidden temporary folder, forced to disk (every file and the
 * folder) and renamed into place only when complete, and the rename itself is forced; so a crash, a
 * kill or a power cut during a write never leaves a half checkpoint under a checkpoint's name: the
 * previous one stays the latest. Only the newest {@code keep} are kept.
 *
 * <p>A checkpoint folder whose {@code state.json} cannot be read is not listed (it is damaged, see
 * {@link #damaged()}); one whose variables cannot be restored is skipped by a resume, which
 * continues from the newest intact one.
 */
public final class Checkpoints {
  /** The variables' file inside a checkpoint folder (the prefix given to {@code Session.save}). */
  public static final String VARIABLES = "model";

  public static final String STATE = "state.json";

  private static final Pattern NAME = Pattern.compile("ckpt-(\\d+)");
  private static final String TEMP_PREFIX = ".tmp-ckpt-";

  private final Path dir;
  private final ObjectMapper json;
  private final DurableFiles.FileSync sync;

  /**
   * The run state stored with each checkpoint.
   *
   * @param step optimizer steps done
   * @param epoch the data iterator's epoch
   * @param cursor the data iterator's position in that epoch
   * @param seed the run seed (every random draw is a function of it and the step)
   * @param loss the last logged loss
   * @param datasetSize the dataset's image count, checked on resume
   * @param dataset the dataset's description, checked on resume
   */
  public record State(
      long step, long epoch, int cursor, long seed, double loss, int datasetSize, String dataset) {}

  /** One complete checkpoint. */
  public record Checkpoint(Path dir, State state) {
    /** The prefix for {@code Session.restore}. */
    public String prefix() {
      return dir.resolve(VARIABLES).toString();
    }

    /**
     * The run folder that holds it: {@code RUN} of {@code RUN/checkpoints/ckpt-N} (see {@link
     * RunDirectory#holdingCheckpoint}).
     */
    public Path runDir() {
      return RunDirectory.holdingCheckpoint(dir);
    }
  }

  /** A damaged checkpoint folder and what is wrong with it. */
  public record Damaged(Path dir, String reason) {}

  public Checkpoints(Path dir, ObjectMapper json) {
    this(dir, json, DurableFiles.FileSync.DISK);
  }

  /** Checkpoints whose writes are forced to disk with {@code sync} (tests record the calls). */
  Checkpoints(Path dir, ObjectMapper json, DurableFiles.FileSync sync) {
    this.dir = dir;
    this.json = json;
    this.sync = sync;
  }

  /** Opens the checkpoints of a run folder (read-only use: sampling, export). */
  public static Checkpoints of(Path runDir) {
    return new Checkpoints(runDir.resolve("checkpoints"), RunDirectory.json());
  }

  public Path dir() {
    return dir;
  }

  /** All complete checkpoints, oldest first; damaged ones (unreadable state.json) are left out. */
  public List<Checkpoint> list() {
    List<Checkpoint> out = new ArrayList<>();
    for (Path p : folders()) {
      try {
        out.add(new Checkpoint(p, readState(p)));
      } catch (UncheckedIOException damaged) {
        // listed by damaged()
      }
    }
    out.sort(Comparator.comparingLong(c -> c.state().step()));
    return out;
  }

  /** The checkpoint folders whose state.json cannot be read, with the reason. */
  public List<Damaged> damaged() {
    List<Damaged> out = new ArrayList<>();
    for (Path p : folders()) {
      try {
        readState(p);
      } catch (UncheckedIOException e) {
        out.add(new Damaged(p, e.getMessage()));
      }
    }
    return out;
  }

  /** The folders named like a checkpoint that hold a state.json, sorted by name. */
  private List<Path> folders() {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> entries = Files.list(dir)) {
      return entries
          .sorted()
          .filter(p -> NAME.matcher(p.getFileName().toString()).matches())
          .filter(p -> Files.isRegularFile(p.resolve(STATE)))
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + dir, e);
    }
  }

  /** The newest complete checkpoint. */
  public Optional<Checkpoint> latest() {
    List<Checkpoint> all = list();
    return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
  }

  /**
   * A checkpoint given as a folder ({@code .../ckpt-000600}) or the run folder (its latest).
   *
   * @throws IllegalArgumentException naming the path when it holds no complete checkpoint
   */
  public static Checkpoint resolve(Path path) {
    if (Files.isRegularFile(path.resolve(STATE))) {
      return new Checkpoint(
          path, new Checkpoints(path.getParent(), RunDirectory.json()).readState(path));
    }
    Checkpoints checkpoints = of(path);
    return checkpoints
        .latest()
        .orElseThrow(
            () ->
                new IllegalArgumentException(
                    checkpoints.damaged().isEmpty()
                        ? path
                            + " holds no complete checkpoint (expected a run folder with"
                            + " checkpoints/ckpt-N/ or a ckpt-N folder with "
                            + STATE
                            + ")"
                        : path
                            + " holds no intact checkpoint: "
                            + checkpoints.damaged().get(0).reason()));
  }

  /**
   * Writes a checkpoint atomically and keeps the newest {@code keep}.
   *
   * @param beforeRename called after the files are written and before the rename (tests use it to
   *     simulate a crash mid-write)
   */
  public Checkpoint save(Session session, State state, int keep, Runnable beforeRename) {
    return save(session::save, state, keep, beforeRename);
  }

  /**
   * Writes a checkpoint atomically and keeps the newest {@code keep}.
   *
   * @param variables writes the variables to the prefix it is given (a session's {@code save}, or
   *     the chief's saver of a replicated graph)
   */
  public Checkpoint save(Consumer<String> variables, State state, int keep, Runnable beforeRename) {
    checkArgument(keep >= 1, "keep must be >= 1");
    try {
      Files.createDirectories(dir);
      Path temp = dir.resolve(TEMP_PREFIX + state.step() + "-" + System.nanoTime());
      Files.createDirectories(temp);
      variables.accept(temp.resolve(VARIABLES).toString());
      json.writerWithDefaultPrettyPrinter().writeValue(temp.resolve(STATE).toFile(), state);
      DurableFiles.syncTree(temp, sync);
      beforeRename.run();
      Path target = dir.resolve(String.format("ckpt-%06d", state.step()));
      if (Files.exists(target)) {
        deleteTree(target);
      }
      try {
        DurableFiles.rename(temp, target, false, sync);
      } catch (AtomicMoveNotSupportedException e) {
        throw new IOException("the file system of " + dir + " cannot rename atomically", e);
      }
      prune(keep);
      return new Checkpoint(target, state);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write a checkpoint under " + dir, e);
    }
  }

  /** Deletes all but the newest {@code keep} checkpoints and any stale temporary folders. */
  void prune(int keep) throws IOException {
    List<Checkpoint> all = list();
    for (int i = 0; i < all.size() - keep; i++) {
      deleteTree(all.get(i).dir());
    }
    removeStaleTemporaries();
  }

  /** Removes temporary folders left by a crash during a checkpoint write. */
  public void removeStaleTemporaries() throws IOException {
    if (!Files.isDirectory(dir)) {
      return;
    }
    try (Stream<Path> entries = Files.list(dir)) {
      for (Path p : entries.toList()) {
        if (p.getFileName().toString().startsWith(TEMP_PREFIX)) {
          deleteTree(p);
        }
      }
    }
  }

  /** Restores every variable of the session's graph from a checkpoint. */
  public static void restore(Session session, Checkpoint checkpoint) {
    session.restore(checkpoint.prefix());
  }

  private State readState(Path checkpointDir) {
    Path file = checkpointDir.resolve(STATE);
    try {
      return json.readValue(file.toFile(), State.class);
    } catch (IOException e) {
      String reason = e.getMessage() == null ? e.toString() : e.getMessage().strip();
      int nl = reason.indexOf('\n');
      throw new UncheckedIOException(
          "cannot read " + file + ": " + (nl < 0 ? reason : reason.substring(0, nl)), e);
    }
  }

  static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
