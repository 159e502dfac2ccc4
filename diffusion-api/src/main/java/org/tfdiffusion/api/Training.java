package org.tfdiffusion.api;

import java.io.PrintWriter;
import java.nio.file.Path;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.nn.ConvKernels;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.train.Trainer;

/**
 * Trains a model from a {@link TrainConfig} (start from a {@link
 * org.tfdiffusion.train.TrainPreset}'s), as {@code ./tfdiffusion train} does: the run folder gets
 * config.json, metrics.csv, TensorBoard logs, sample grids and checkpoints, and {@link
 * Generator#open} reads it.
 */
public final class Training {
  private Training() {}

  /**
   * Trains a new run in {@code runDir}, quietly.
   *
   * @return the run folder
   * @throws IllegalArgumentException if the folder already holds a run, or for bad data
   */
  public static Path train(Path runDir, TrainConfig config) {
    return train(runDir, config, new PrintWriter(java.io.OutputStream.nullOutputStream()));
  }

  /** {@link #train(Path, TrainConfig)}, with a progress line every log interval on {@code log}. */
  public static Path train(Path runDir, TrainConfig config, PrintWriter log) {
    SessionOptions options =
        SessionOptions.training().withNativeConvolutions(ConvKernels.AUTO.resolve(false, false));
    return new Trainer(log, Trainer.Progress.LINES, options).train(runDir, config).runDir();
  }
}
