package org.tfdiffusion.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.run.DurableFiles;

/**
 * How a finished export becomes a version, without TensorFlow: a folder of files stands for the
 * SavedModel.
 */
class ExportPublishingTest {
  @TempDir Path base;

  /** A complete "export" in the hidden temporary folder of model {@code name}. */
  private Path written(String name) throws IOException {
    Path temp = Files.createDirectories(base.resolve(name).resolve(".tmp-export-test-1-1"));
    Files.writeString(temp.resolve("saved_model.pb"), "graph");
    Path variables = Files.createDirectories(temp.resolve("variables"));
    Files.writeString(variables.resolve("variables.index"), "index");
    return temp;
  }

  private static List<Path> tree(Path root) throws IOException {
    try (Stream<Path> walk = Files.walk(root)) {
      return walk.toList();
    }
  }

  @Test
  void versionsAre64BitNumberedFoldersOnly() throws IOException {
    Path model = base.resolve("m");
    for (String name :
        new String[] {
          "7", "1733330000000", "99999999999999999999", "abc", "0012", ".tmp-export-x"
        }) {
      Files.createDirectories(model.resolve(name));
    }
    Files.writeString(model.resolve("42"), "a file, not a folder");
    assertThat(ModelExporter.versionNumbers(model)).containsExactly(7L, 12L, 1_733_330_000_000L);
    // callers that read int versions are told, instead of being given version 12 as the latest
    assertThatThrownBy(() -> ModelExporter.versions(model))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("version 1733330000000");
    Files.delete(model.resolve("1733330000000"));
    assertThat(ModelExporter.versions(model)).containsExactly(7, 12);
  }

  @Test
  void aPublishedExportWasForcedToDiskBeforeItsRenameAndTheRenamesAfter() throws IOException {
    Path temp = written("m");
    List<Path> files = tree(temp);
    Path version = base.resolve("m/1");
    List<Path> beforeRename = new ArrayList<>();
    List<Path> afterRename = new ArrayList<>();
    long published =
        ModelExporter.publish(
            temp,
            base,
            "m",
            p -> (Files.exists(version) ? afterRename : beforeRename).add(p.toAbsolutePath()));
    assertThat(published).isEqualTo(1);
    assertThat(beforeRename).containsAll(files.stream().map(Path::toAbsolutePath).toList());
    assertThat(afterRename).contains(base.resolve("m").toAbsolutePath(), base.toAbsolutePath());
    assertThat(Files.readString(base.resolve("models.config"))).contains("name: \"m\"");
  }

  @Test
  void anExportWhoseModelsConfigCannotBeWrittenPublishesNothing() throws IOException {
    Files.createDirectories(base.resolve("models.config/in-the-way"));
    Path temp = written("m");
    assertThatThrownBy(() -> ModelExporter.publish(temp, base, "m", DurableFiles.FileSync.DISK))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("models.config")
        .hasMessageContaining("nothing was published");
    assertThat(ModelExporter.versionNumbers(base.resolve("m"))).isEmpty();
    assertThat(temp.resolve("saved_model.pb")).exists();
  }

  @Test
  void onlyTheTemporaryFoldersOfKilledExportsAreRemoved() throws IOException {
    Path model = Files.createDirectories(base.resolve("m"));
    String host = ModelExporter.hostName();
    Path dead = Files.createDirectories(model.resolve(".tmp-export-" + host + "-999999999-5"));
    Path live =
        Files.createDirectories(
            model.resolve(".tmp-export-" + host + "-" + ProcessHandle.current().pid() + "-5"));
    Path otherHostFresh = Files.createDirectories(model.resolve(".tmp-export-elsewhere-1-5"));
    Path otherHostOld = Files.createDirectories(model.resolve(".tmp-export-elsewhere-2-5"));
    Path oldNameFresh = Files.createDirectories(model.resolve(".tmp-export-123456789"));
    Path oldNameOld = Files.createDirectories(model.resolve(".tmp-export-987654321"));
    Path version = Files.createDirectories(model.resolve("3"));
    Instant now = Instant.now();
    FileTime longAgo =
        FileTime.from(now.minus(ModelExporter.STALE_AFTER).minus(Duration.ofMinutes(1)));
    Files.setLastModifiedTime(otherHostOld, longAgo);
    Files.setLastModifiedTime(oldNameOld, longAgo);
    Files.setLastModifiedTime(live, longAgo); // a live writer's folder is kept at any age

    ModelExporter.removeStaleTemporaries(model, now);

    assertThat(dead).doesNotExist();
    assertThat(otherHostOld).doesNotExist();
    assertThat(oldNameOld).doesNotExist();
    assertThat(live).exists();
    assertThat(otherHostFresh).exists();
    assertThat(oldNameFresh).exists();
    assertThat(version).exists();
  }
}
