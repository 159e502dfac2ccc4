package org.tfdiffusion.run;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.tfdiffusion.sampling.SamplerKind;

/**
 * What a tfdiffusion export records about itself in {@code VERSION/assets.extra/tfdiffusion.json}:
 * the one reader and writer of that file, for the exporter, the server, its model list, the
 * benchmarks, and {@code sample}/{@code eval}/{@code fine-tune} starting from an export.
 *
 * <pre>
 * {"name": "fashion-mnist", "exported_at": "2026-12-05T17:19:12Z", "run": "/work/runs/ft1",
 *  "training_step": 2000, "weights": "ema",
 *  "sampler": "dpm-solver++(steps=20, ...)", "steps": 20, "sampler_kind": "dpmpp", "max_steps": 100,
 *  "class_names": ["T-shirt/top", ...], "default_guidance": 2.0, "image_shape": [28, 28, 1],
 *  "config": {...the run's config.json...}}
 * </pre>
 *
 * Exports written before {@code sampler_kind} and {@code max_steps} were recorded read with both
 * recovered: the kind from the start of the sampler's plan name, the limit by {@link
 * #maxSampleSteps}.
 *
 * @param name the model's name (its folder under the base path)
 * @param exportedAt when, ISO-8601
 * @param run the run folder it was exported from
 * @param trainingStep the training step of its weights
 * @param weights EMA or raw weights
 * @param sampler the plan name of its {@code serving_default} signature
 * @param steps N of that plan
 * @param samplerKind the kind its signatures sample with; empty when an older export's plan name
 *     names none
 * @param maxSteps the largest {@code num_steps} its {@code sample} signature takes
 * @param classNames the class names, empty for an unconditional model
 * @param defaultGuidance the guidance scale of {@code serving_default} and of requests without one
 * @param imageShape height, width, channels
 * @param config the training config, with the export's default guidance
 */
public record ExportMetadata(
    String name,
    String exportedAt,
    String run,
    long trainingStep,
    TrainedModel.Weights weights,
    String sampler,
    int steps,
    Optional<SamplerKind> samplerKind,
    int maxSteps,
    List<String> classNames,
    double defaultGuidance,
    List<Integer> imageShape,
    TrainConfig config) {

  /** The file's name in a version's {@code assets.extra/}. */
  public static final String FILE = "tfdiffusion.json";

  /** The largest N offered by the {@code sample} signature of the few-step samplers. */
  public static final int MAX_FEW_STEPS = 100;

  /** The largest N offered by the {@code sample} signature of DDPM and DDIM. */
  public static final int MAX_STEPS = 1000;

  public ExportMetadata {
    classNames = List.copyOf(classNames);
    imageShape = List.copyOf(imageShape);
  }

  /**
   * The largest {@code num_steps} that the {@code sample} signature of a sampler kind takes: the
   * one rule for the exporter, readers of exports and the server.
   */
  public static int maxSampleSteps(SamplerKind kind, int timesteps) {
    return Math.min(kind.fewSteps() ? MAX_FEW_STEPS : MAX_STEPS, timesteps);
  }

  /**
   * The kind named by the start of a plan name such as {@code dpm-solver++(steps=20, ...)}, empty
   * when it names none.
   */
  public static Optional<SamplerKind> kindOfPlanName(String planName) {
    int paren = planName.indexOf('(');
    try {
      return Optional.of(SamplerKind.lookup(paren < 0 ? planName : planName.substring(0, paren)));
    } catch (IllegalArgumentException unknown) {
      return Optional.empty();
    }
  }

  /** The file in a version folder. */
  public static Path file(Path versionDir) {
    return versionDir.resolve("assets.extra").resolve(FILE);
  }

  /**
   * Reads a version folder's metadata.
   *
   * @throws IllegalArgumentException naming the file and the fix when it is missing or unreadable
   */
  public static ExportMetadata read(Path versionDir) {
    Path file = file(versionDir);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(
          String.format(
              "%s has no assets.extra/%s, so it is not a tfdiffusion diffusion export (made by:"
                  + " export --run R)",
              versionDir, FILE));
    }
    try {
      return fromJson(RunDirectory.json().readTree(file.toFile()));
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(
          "cannot read " + file + ": " + e.getMessage() + "; export the run again", e);
    }
  }

  /**
   * A version folder's metadata when it has a readable one: empty for a SavedModel from elsewhere,
   * or one whose file is still being copied.
   */
  public static Optional<ExportMetadata> find(Path versionDir) {
    if (!Files.isRegularFile(file(versionDir))) {
      return Optional.empty();
    }
    try {
      return Optional.of(read(versionDir));
    } catch (IllegalArgumentException unreadable) {
      return Optional.empty();
    }
  }

  /**
   * The metadata of a parsed file. Missing fields take what older exports imply.
   *
   * @throws IllegalArgumentException when the config or the weights cannot be read
   */
  public static ExportMetadata fromJson(JsonNode m) throws IOException {
    TrainConfig config =
        m.hasNonNull("config")
            ? RunDirectory.json().treeToValue(m.get("config"), TrainConfig.class)
            : null;
    if (config == null) {
      throw new IllegalArgumentException("it has no \"config\"");
    }
    String sampler = m.path("sampler").asText("");
    Optional<SamplerKind> kind =
        m.hasNonNull("sampler_kind")
            ? kindOfPlanName(m.get("sampler_kind").asText())
            : kindOfPlanName(sampler);
    int timesteps = config.noiseSchedule().timesteps();
    int maxSteps =
        m.hasNonNull("max_steps")
            ? m.get("max_steps").asInt()
            : kind.map(k -> maxSampleSteps(k, timesteps)).orElse(Math.min(MAX_STEPS, timesteps));
    List<String> classNames = new ArrayList<>();
    m.path("class_names").forEach(c -> classNames.add(c.asText()));
    List<Integer> shape = new ArrayList<>();
    m.path("image_shape").forEach(d -> shape.add(d.asInt()));
    if (shape.isEmpty()) {
      shape.addAll(
          List.of(
              config.model().imageSize(), config.model().imageSize(), config.model().channels()));
    }
    return new ExportMetadata(
        m.path("name").asText(""),
        m.path("exported_at").asText(""),
        m.path("run").asText(""),
        m.path("training_step").asLong(0),
        TrainedModel.Weights.parse(m.path("weights").asText("ema"), "\"weights\""),
        sampler,
        m.path("steps").asInt(0),
        kind,
        maxSteps,
        classNames,
        m.path("default_guidance").asDouble(1.0),
        shape,
        config);
  }

  /** The file's fields, in its order. */
  public Map<String, Object> toJson() {
    Map<String, Object> meta = new LinkedHashMap<>();
    meta.put("name", name);
    meta.put("exported_at", exportedAt);
    meta.put("run", run);
    meta.put("training_step", trainingStep);
    meta.put("weights", weightsName());
    meta.put("sampler", sampler);
    meta.put("steps", steps);
    samplerKind.ifPresent(k -> meta.put("sampler_kind", k.configName()));
    meta.put("max_steps", maxSteps);
    meta.put("class_names", classNames);
    meta.put("default_guidance", defaultGuidance);
    meta.put("image_shape", imageShape);
    meta.put("config", config);
    return meta;
  }

  /** Writes {@code assets.extra/tfdiffusion.json} into a version folder being built. */
  public void write(Path versionDir) throws IOException {
    Path file = file(versionDir);
    Files.createDirectories(file.getParent());
    RunDirectory.json().writeValue(file.toFile(), toJson());
  }

  /** {@code ema} or {@code raw}, as the file writes it. */
  public String weightsName() {
    return weights.configName();
  }

  /** The kind's config name, or "" when an older export's plan name names none. */
  public String samplerKindName() {
    return samplerKind.map(SamplerKind::configName).orElse("");
  }

  /** Whether the model takes class labels. */
  public boolean conditional() {
    return config.model().numClasses() > 0;
  }
}
