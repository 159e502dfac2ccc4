package org.tfdiffusion.run;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoint files on disk, without TensorFlow: a fake variables writer stands for the session. */
class CheckpointsTest {
  @TempDir Path temp;

  /** What was forced to disk, in order, with whether the checkpoint's final name existed then. */
  private record Forced(Path path, boolean published) {}

  private static Checkpoints.State state(long step) {
    return new Checkpoints.State(step, 0, 8, 0, 0.5, 100, "test data");
  }

  /** Writes the two files TensorFlow's saver writes for the prefix. */
  private static void variables(String prefix) {
    try {
      Files.writeString(Path.of(prefix + ".index"), "index");
      Files.writeString(Path.of(prefix + ".data-00000-of-00001"), "data");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static List<Path> tree(Path root) throws IOException {
    try (Stream<Path> walk = Files.walk(root)) {
      return walk.toList();
    }
  }

  @Test
  void everyFileAndFolderIsForcedToDiskBeforeTheRenameAndTheRenameAfterIt() throws Exception {
    Path dir = temp.resolve("checkpoints");
    Path target = dir.resolve("ckpt-000003");
    List<Forced> forced = new ArrayList<>();
    Checkpoints checkpoints =
        new Checkpoints(
            dir, RunDirectory.json(), p -> forced.add(new Forced(p, Files.exists(target))));
    List<Path> written = new ArrayList<>();
    List<Forced> before = new ArrayList<>();
    checkpoints.save(
        CheckpointsTest::variables,
        state(3),
        2,
        () -> {
          try (Stream<Path> temps = Files.list(dir)) {
            written.addAll(tree(temps.findFirst().orElseThrow()));
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
          before.addAll(forced);
        });

    assertThat(written).hasSize(4); // the folder, state.json and the two variables files
    assertThat(before).extracting(Forced::path).containsExactlyInAnyOrderElementsOf(written);
    assertThat(before).noneMatch(Forced::published);
    Forced last = forced.get(forced.size() - 1);
    assertThat(last.path()).isEqualTo(dir.toAbsolutePath());
    assertThat(last.published()).as("the folder is forced after the rename").isTrue();
    assertThat(checkpoints.latest().orElseThrow().dir()).isEqualTo(target);
  }

  @Test
  void aCheckpointWithADamagedStateIsNotListedButReported() throws Exception {
    Checkpoints checkpoints = new Checkpoints(temp.resolve("checkpoints"), RunDirectory.json());
    checkpoints.save(CheckpointsTest::variables, state(2), 5, () -> {});
    Checkpoints.Checkpoint four =
        checkpoints.save(CheckpointsTest::variables, state(4), 5, () -> {});
    Files.writeString(four.dir().resolve(Checkpoints.STATE), "{\"step\": 4, \"epo");

    assertThat(checkpoints.list()).extracting(c -> c.state().step()).containsExactly(2L);
    assertThat(checkpoints.latest().orElseThrow().state().step()).isEqualTo(2);
    assertThat(checkpoints.damaged())
        .singleElement()
        .satisfies(
            d -> {
              assertThat(d.dir()).isEqualTo(four.dir());
              assertThat(d.reason()).contains("cannot read").contains(Checkpoints.STATE);
            });
  }
}
