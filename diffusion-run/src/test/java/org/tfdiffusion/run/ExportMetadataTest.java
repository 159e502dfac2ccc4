package org.tfdiffusion.run;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.sampling.SamplerKind;

/** assets.extra/tfdiffusion.json: the shipped export's file, round trips, older files. */
class ExportMetadataTest {
  private static final Path SHIPPED = Path.of("..", "saved_models", "fashion-mnist", "1");

  @TempDir Path temp;

  /** The shipped export's file, field by field as written in it. */
  @Test
  void readsTheShippedExport() {
    ExportMetadata m = ExportMetadata.read(SHIPPED);
    assertThat(m.name()).isEqualTo("fashion-mnist");
    assertThat(m.trainingStep()).isEqualTo(2000);
    assertThat(m.weights()).isEqualTo(TrainedModel.Weights.EMA);
    assertThat(m.sampler()).startsWith("dpm-solver++(steps=20");
    assertThat(m.steps()).isEqualTo(20);
    assertThat(m.samplerKind()).contains(SamplerKind.DPMPP);
    assertThat(m.maxSteps()).isEqualTo(100);
    assertThat(m.classNames()).hasSize(10).startsWith("T-shirt/top", "Trouser");
    assertThat(m.defaultGuidance()).isEqualTo(2.0);
    assertThat(m.imageShape()).containsExactly(28, 28, 1);
    assertThat(m.config().model().numClasses()).isEqualTo(10);
    assertThat(m.conditional()).isTrue();
  }

  @Test
  void writesWhatItReads() throws IOException {
    ExportMetadata shipped = ExportMetadata.read(SHIPPED);
    Path version = temp.resolve("m").resolve("7");
    shipped.write(version);
    assertThat(ExportMetadata.read(version)).isEqualTo(shipped);
    assertThat(Files.readString(ExportMetadata.file(version)))
        .contains("\"sampler_kind\" : \"dpmpp\"", "\"weights\" : \"ema\"", "\"max_steps\" : 100");
  }

  /** Files written before the kind and the limit were recorded: both recovered. */
  @Test
  void recoversKindAndLimitOfOlderExports() throws IOException {
    assertThat(older("dpm-solver++(steps=20, order=2)").samplerKind()).contains(SamplerKind.DPMPP);
    assertThat(older("dpm-solver++(steps=20, order=2)").maxSteps()).isEqualTo(100);
    assertThat(older("ddim(steps=50, eta=0.0)").samplerKind()).contains(SamplerKind.DDIM);
    assertThat(older("ddim(steps=50, eta=0.0)").maxSteps()).isEqualTo(1000);
    ExportMetadata unknown = older("something-else(steps=3)");
    assertThat(unknown.samplerKind()).isEmpty();
    assertThat(unknown.samplerKindName()).isEmpty();
    assertThat(unknown.maxSteps()).isEqualTo(1000);
  }

  @Test
  void aSavedModelFromElsewhereHasNone() {
    assertThat(ExportMetadata.find(temp)).isEmpty();
    assertThatThrownBy(() -> ExportMetadata.read(temp))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no assets.extra/tfdiffusion.json")
        .hasMessageContaining("export --run");
  }

  @Test
  void aDamagedFileIsNamed() throws IOException {
    Path file = ExportMetadata.file(temp);
    Files.createDirectories(file.getParent());
    Files.writeString(file, "{\"name\": \"half");
    assertThat(ExportMetadata.find(temp)).isEmpty();
    assertThatThrownBy(() -> ExportMetadata.read(temp))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("cannot read " + file)
        .hasMessageContaining("export the run again");
    Files.writeString(file, "{\"name\": \"no config\"}");
    assertThatThrownBy(() -> ExportMetadata.read(temp)).hasMessageContaining("no \"config\"");
  }

  /** The shipped file with another sampler and without sampler_kind and max_steps. */
  private ExportMetadata older(String sampler) throws IOException {
    ObjectNode tree =
        (ObjectNode) RunDirectory.json().readTree(ExportMetadata.file(SHIPPED).toFile());
    tree.remove(List.of("sampler_kind", "max_steps"));
    tree.put("sampler", sampler);
    Path version = Files.createTempDirectory(temp, "v");
    Files.createDirectories(ExportMetadata.file(version).getParent());
    RunDirectory.json().writeValue(ExportMetadata.file(version).toFile(), tree);
    Optional<ExportMetadata> read = ExportMetadata.find(version);
    assertThat(read).isPresent();
    return read.get();
  }
}
