package org.tfdiffusion.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.run.ExportMetadata;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.sampling.DdimSampler;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.SamplerKind;

/**
 * An export as the model under evaluation: the sampler kind and the step limit of its signatures
 * are those its metadata records. Only the metadata file is written; no graph is loaded.
 */
class ModelSourceTest {
  private static final Path SHIPPED = Path.of("..", "saved_models", "fashion-mnist", "1");

  @TempDir Path temp;

  /** The recorded kind and limit count, not what the plan name would imply (dpm-solver++, 100). */
  @Test
  void kindAndLimitComeFromTheMetadata() throws IOException {
    ModelSource source =
        export(
            m -> {
              m.put("sampler_kind", "ddim");
              m.put("max_steps", 7);
            });
    assertThat(source.isExport()).isTrue();
    assertThat(source.exportMetadata().orElseThrow().sampler()).startsWith("dpm-solver++(");
    assertThat(source.exportSamplerKind()).isEqualTo(SamplerKind.DDIM);
    assertThat(source.signaturesCanSample(DdimSampler.of(7, 0.0))).isTrue();
    assertThat(source.signaturesCanSample(DdimSampler.of(8, 0.0))).isFalse();
    assertThat(source.signaturesCanSample(DpmSolverPlusPlusSampler.of(5))).isFalse();
    assertThat(source.tag()).isEqualTo("v1");
    assertThat(source.evalDir()).isEqualTo(temp.resolve("fashion").resolve("eval"));
  }

  /** An export written before the kind and the limit were recorded: both recovered. */
  @Test
  void olderExportsRecoverKindAndLimit() throws IOException {
    ModelSource source = export(m -> m.remove(List.of("sampler_kind", "max_steps")));
    assertThat(source.exportSamplerKind()).isEqualTo(SamplerKind.DPMPP);
    assertThat(source.signaturesCanSample(DpmSolverPlusPlusSampler.of(100))).isTrue();
    assertThat(source.signaturesCanSample(DpmSolverPlusPlusSampler.of(101))).isFalse();
    assertThat(source.signaturesCanSample(DdimSampler.of(20, 0.0))).isFalse();
  }

  @Test
  void anExportThatNamesNoSamplerIsRefused() throws IOException {
    ModelSource source =
        export(
            m -> {
              m.remove(List.of("sampler_kind", "max_steps"));
              m.put("sampler", "something-else(steps=3)");
            });
    assertThatThrownBy(source::exportSamplerKind)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "the export's sampler 'something-else(steps=3)' names no sampler; export it again");
  }

  /** BASE/fashion/1 holding the shipped export's metadata, changed by {@code change}. */
  private ModelSource export(Consumer<ObjectNode> change) throws IOException {
    ObjectNode tree =
        (ObjectNode) RunDirectory.json().readTree(ExportMetadata.file(SHIPPED).toFile());
    change.accept(tree);
    Path version = temp.resolve("fashion").resolve("1");
    Files.createDirectories(ExportMetadata.file(version).getParent());
    RunDirectory.json().writeValue(ExportMetadata.file(version).toFile(), tree);
    return ModelSource.export(temp.resolve("fashion"));
  }
}
