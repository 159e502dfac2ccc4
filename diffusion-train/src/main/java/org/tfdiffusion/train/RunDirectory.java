package org.tfdiffusion.train;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.tfdiffusion.diffusion.LossWeighting;

/**
 * The folder of a training run:
 *
 * <pre>
 *   config.json        everything needed to rebuild the model and continue the run
 *   metrics.csv        step, epoch, loss, learning rate, gradient norm, images/s
 *   tensorboard/       event files: tensorboard --logdir RUN/tensorboard
 *   samples/           step-000600.png sample grids from the EMA weights
 *   checkpoints/       ckpt-000600/ ... (see {@link Checkpoints})
 * </pre>
 */
public final class RunDirectory {
  public static final String CONFIG = "config.json";

  private final Path root;
  private final TrainConfig config;

  private RunDirectory(Path root, TrainConfig config) {
    this.root = root;
    this.config = config;
  }

  /**
   * {@link LossWeighting} in config.json: its kind and γ (derived flags are neither written nor
   * read).
   */
  @com.fasterxml.jackson.annotation.JsonIgnoreProperties({"uniform"})
  private abstract static class LossWeightingJson {}

  /** The JSON mapper for config.json and state.json (records, pretty-printed, strict). */
  public static ObjectMapper json() {
    return new ObjectMapper()
        .addMixIn(LossWeighting.class, LossWeightingJson.class)
        .enable(SerializationFeature.INDENT_OUTPUT)
        .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
  }

  /**
   * Starts a new run in {@code root}.
   *
   * @throws IllegalArgumentException if the folder already holds a run (no silent overwrite)
   */
  static RunDirectory create(Path root, TrainConfig config) {
    if (Files.exists(root.resolve(CONFIG)) || Checkpoints.of(root).latest().isPresent()) {
      throw new IllegalArgumentException(
          root + " already holds a run; continue it with --resume, or choose another --run-dir");
    }
    try {
      Files.createDirectories(root);
      for (String sub : new String[] {"tensorboard", "samples", "checkpoints"}) {
        Files.createDirectories(root.resolve(sub));
      }
      writeConfig(root, config);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the run folder " + root, e);
    }
    return new RunDirectory(root, config);
  }

  /**
   * Opens an existing run.
   *
   * @throws IllegalArgumentException naming the folder if it holds no config.json
   */
  public static RunDirectory open(Path root) {
    Path file = root.resolve(CONFIG);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(
          root
              + " is not a run folder: it has no "
              + CONFIG
              + " (train one with: train --run-dir "
              + root
              + ")");
    }
    try {
      return new RunDirectory(root, json().readValue(file.toFile(), TrainConfig.class));
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /** Replaces config.json atomically (a resumed run may change the number of steps). */
  static void writeConfig(Path root, TrainConfig config) throws IOException {
    Path tmp = root.resolve(CONFIG + ".tmp");
    json().writeValue(tmp.toFile(), config);
    Files.move(
        tmp,
        root.resolve(CONFIG),
        StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
  }

  RunDirectory withConfig(TrainConfig newConfig) {
    try {
      writeConfig(root, newConfig);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot update " + root.resolve(CONFIG), e);
    }
    return new RunDirectory(root, newConfig);
  }

  public Path root() {
    return root;
  }

  public TrainConfig config() {
    return config;
  }

  public Path metricsFile() {
    return root.resolve("metrics.csv");
  }

  public Path tensorBoardDir() {
    return root.resolve("tensorboard");
  }

  public Path samplesDir() {
    return root.resolve("samples");
  }

  public Checkpoints checkpoints() {
    return new Checkpoints(root.resolve("checkpoints"), json());
  }
}
