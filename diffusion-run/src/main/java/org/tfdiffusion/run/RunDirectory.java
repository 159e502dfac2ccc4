package org.tfdiffusion.run;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
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

  /**
   * The run folder holding a checkpoint folder: {@code RUN} of {@code RUN/checkpoints/ckpt-N}. A
   * checkpoint folder is always two levels below its run folder: inside the run's {@code
   * checkpoints/} (see the layout above and {@link Checkpoints}).
   *
   * @param checkpointDir a checkpoint folder, {@code RUN/checkpoints/ckpt-N}
   */
  public static Path holdingCheckpoint(Path checkpointDir) {
    return checkpointDir.getParent().getParent();
  }

  /** The metrics file of a run. */
  static final String METRICS = "metrics.csv";

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

  /**
   * The JSON mapper for config.json and state.json (records, pretty-printed, strict; the named
   * choices as their names, see {@link NamedJson}).
   */
  public static ObjectMapper json() {
    return new ObjectMapper()
        .registerModule(NamedJson.module())
        .addMixIn(LossWeighting.class, LossWeightingJson.class)
        .enable(SerializationFeature.INDENT_OUTPUT)
        .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
  }

  /**
   * Starts a new run in {@code root}.
   *
   * @throws IllegalArgumentException if the folder already holds a run (no silent overwrite); the
   *     message names the way on: resume a run with checkpoints, restart one without
   */
  public static RunDirectory create(Path root, TrainConfig config) {
    java.util.Optional<Checkpoints.Checkpoint> latest = Checkpoints.of(root).latest();
    if (latest.isPresent()) {
      throw new IllegalArgumentException(
          String.format(
              "%s already holds a run (latest checkpoint: step %d); continue it with --resume, or"
                  + " choose another --run-dir",
              root, latest.get().state().step()));
    }
    if (!Checkpoints.of(root).damaged().isEmpty()) {
      throw new IllegalArgumentException(
          root + " already holds a run (its checkpoints are damaged); choose another --run-dir");
    }
    if (Files.exists(root.resolve(CONFIG))) {
      throw new IllegalArgumentException(
          root
              + " holds a run that stopped before its first checkpoint; start it over with"
              + " --restart (the options given now, replacing its config.json, metrics and"
              + " samples), continue it from step 0 with --resume (its config.json), or choose"
              + " another --run-dir");
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
   * Clears a run that stopped before its first checkpoint, so that it can start over in place:
   * removes its config.json, metrics.csv, sample grids, TensorBoard events and any half-written
   * checkpoint; other files in the folder are kept.
   *
   * @throws IllegalArgumentException if the run has a checkpoint (training that would be lost)
   */
  public static void discardUncheckpointed(Path root) {
    Checkpoints checkpoints = Checkpoints.of(root);
    java.util.Optional<Checkpoints.Checkpoint> latest = checkpoints.latest();
    if (latest.isPresent() || !checkpoints.damaged().isEmpty()) {
      throw new IllegalArgumentException(
          String.format(
              "%s has checkpoints (%s); --restart only starts over a run that stopped before its"
                  + " first one: continue it with --resume, or choose another --run-dir",
              root,
              latest
                  .map(c -> "latest: step " + c.state().step())
                  .orElseGet(() -> "damaged: " + checkpoints.damaged().get(0).dir())));
    }
    try {
      Files.deleteIfExists(root.resolve(CONFIG));
      Files.deleteIfExists(root.resolve(METRICS));
      for (String sub : new String[] {"tensorboard", "samples", "checkpoints"}) {
        Checkpoints.deleteTree(root.resolve(sub));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot clear the run folder " + root, e);
    }
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

  /** Replaces config.json atomically and durably (see {@link DurableFiles}). */
  static void writeConfig(Path root, TrainConfig config) throws IOException {
    DurableFiles.write(
        root.resolve(CONFIG), json().writeValueAsBytes(config), DurableFiles.FileSync.DISK);
  }

  public RunDirectory withConfig(TrainConfig newConfig) {
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
    return root.resolve(METRICS);
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
