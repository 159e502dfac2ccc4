package org.tfdiffusion.run;

import static com.google.common.base.Preconditions.checkArgument;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A diffusion model exported as a SavedModel in TensorFlow Serving's layout ({@code
 * BASE/NAME/VERSION/}), read back: its version folder and what its metadata ({@code
 * assets.extra/tfdiffusion.json}) records (the training config, the weights and their step, the
 * sampler of its signatures). What sampling, evaluation and fine-tuning need to start from an
 * export instead of a run folder.
 *
 * @param versionDir {@code BASE/NAME/VERSION}
 * @param metadata its {@code assets.extra/tfdiffusion.json}
 */
public record ExportedModel(Path versionDir, ExportMetadata metadata) {

  private static final Pattern VERSION = Pattern.compile("[0-9]{1,19}");

  /**
   * Reads an export: {@code saved_models/NAME} (its highest version) or {@code
   * saved_models/NAME/VERSION}.
   *
   * @throws IllegalArgumentException naming the folder and the fix when it holds no complete
   *     tfdiffusion export
   */
  public static ExportedModel open(Path path) {
    checkArgument(
        Files.isDirectory(path),
        "%s does not exist; give saved_models/NAME or saved_models/NAME/VERSION (see export)",
        path);
    Path versionDir = path;
    if (!Files.isRegularFile(path.resolve("saved_model.pb"))) {
      List<Long> versions = versionNumbers(path);
      checkArgument(
          !versions.isEmpty(),
          "%s holds no SavedModel (no saved_model.pb, no numbered version folder); give"
              + " saved_models/NAME or saved_models/NAME/VERSION",
          path);
      versionDir = path.resolve(String.valueOf(versions.get(versions.size() - 1)));
    }
    return new ExportedModel(versionDir, ExportMetadata.read(versionDir));
  }

  /** The training config of the run it was exported from, as its metadata records it. */
  public TrainConfig config() {
    return metadata.config();
  }

  /**
   * Whether {@code path} looks like an export (a version folder with the metadata, or a model
   * folder with numbered versions) rather than a run folder or a checkpoint.
   */
  public static boolean isExport(Path path) {
    return Files.isRegularFile(path.resolve("saved_model.pb"))
        || (Files.isDirectory(path)
            && !Files.isRegularFile(path.resolve(RunDirectory.CONFIG))
            && !versionNumbers(path).isEmpty());
  }

  /**
   * The existing versions of a model folder: its sub-folders named by a 64-bit number, in ascending
   * order (other names, and numbers beyond 64 bits, are not versions).
   */
  public static List<Long> versionNumbers(Path modelDir) {
    if (!Files.isDirectory(modelDir)) {
      return List.of();
    }
    try (Stream<Path> entries = Files.list(modelDir)) {
      return entries
          .filter(Files::isDirectory)
          .map(p -> p.getFileName().toString())
          .filter(n -> VERSION.matcher(n).matches())
          .map(ExportedModel::parseVersion)
          .flatMap(Optional::stream)
          .sorted()
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + modelDir, e);
    }
  }

  private static Optional<Long> parseVersion(String digits) {
    try {
      return Optional.of(Long.parseLong(digits));
    } catch (NumberFormatException beyond64Bits) {
      return Optional.empty();
    }
  }

  /** One line for logs: {@code export PATH (ema weights of step N, serving_default PLAN)}. */
  public String description() {
    return String.format(
        "export %s (%s weights of step %d, serving_default %s)",
        versionDir, metadata.weightsName(), metadata.trainingStep(), metadata.sampler());
  }
}
