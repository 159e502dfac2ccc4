package org.tfdiffusion.train.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Random;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.train.TrainingGraph;

/**
 * Times the real training step of a config (forward, backward, clipping, AdamW, EMA) on random
 * images, without data loading, sampling or logging.
 */
public final class TrainStepBenchmark {
  private TrainStepBenchmark() {}

  /**
   * {@code base} (its optimizer and schedule) with another model, no conditioning, and a plain
   * training of {@code steps} steps at {@code batch} images: no accumulation, checkpoints or
   * samples between steps.
   */
  public static TrainConfig config(TrainConfig base, UNetConfig model, int steps, int batch) {
    return base.withModel(model)
        .withConditioning(TrainConfig.Conditioning.none())
        .withTraining(
            base.training().toBuilder()
                .steps(steps)
                .batch(batch, 1)
                .logEvery(1)
                .checkpointEvery(0)
                .keepCheckpoints(1)
                .sampleEvery(0)
                .sampleCount(1)
                .build());
  }

  /**
   * What {@link #run} measured.
   *
   * @param seconds the seconds of each timed step
   * @param residentAfterSetupMib this process's resident memory (VmRSS, MiB) once the graph and the
   *     session exist; -1 where /proc is not readable
   * @param residentAfterInitMib the same once the variables are initialised (weights, EMA weights,
   *     optimizer slots)
   */
  public record Timing(
      double[] seconds, double residentAfterSetupMib, double residentAfterInitMib) {}

  /**
   * Runs one warm-up step and then {@code steps} timed ones.
   *
   * @param profile called once after the timed steps with the session and a runner of one more step
   *     (e.g. to trace it)
   */
  public static Timing run(
      TrainConfig config,
      SessionOptions options,
      int steps,
      Optional<BiConsumer<Session, Session.Runner>> profile) {
    try (TrainingGraph graph =
            new TrainingGraph(
                config,
                TrainingGraph.Options.stepOnly().nativeConvolutions(options.nativeConvolutions()));
        Session session = new Session(graph.graph, options.toConfigProto())) {
      double setup = residentMib("VmRSS");
      session.initialize();
      double init = residentMib("VmRSS");
      double[] seconds =
          time(
              graph,
              session,
              config,
              steps,
              runner -> profile.ifPresent(p -> p.accept(session, runner)));
      return new Timing(seconds, setup, init);
    }
  }

  /**
   * A memory figure of this process from /proc/self/status in MiB: {@code VmRSS} (resident now) or
   * {@code VmHWM} (the peak so far); -1 if unknown (not Linux).
   */
  public static double residentMib(String field) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith(field + ":")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
        }
      }
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
    return -1;
  }

  /**
   * Times the training step of an initialised {@code graph} in {@code session} on random images in
   * [-1, 1]: one warm-up step, then {@code steps} timed ones; {@code after} gets a runner of one
   * more step, ready to run (e.g. with a trace).
   *
   * @return the seconds of each timed step
   */
  static double[] time(
      TrainingGraph graph,
      Session session,
      TrainConfig config,
      int steps,
      Consumer<Session.Runner> after) {
    UNetConfig model = config.model();
    int batch = config.training().microBatch();
    int size = model.imageSize();
    float[] images = new float[batch * size * size * model.channels()];
    Random random = new Random(0);
    for (int i = 0; i < images.length; i++) {
      images[i] = random.nextFloat() * 2 - 1;
    }
    try (TFloat32 x = TensorIO.floats(Shape.of(batch, size, size, model.channels()), images);
        TInt32 y = TInt32.vectorOf(new int[batch]);
        TFloat32 lr = TFloat32.scalarOf(1e-4f)) {
      double[] seconds = new double[steps];
      for (int i = -1; i <= steps; i++) {
        try (TInt64 seed = TInt64.vectorOf(0, i + 1)) {
          Session.Runner runner =
              session
                  .runner()
                  .feed(graph.images, x)
                  .feed(graph.seed, seed)
                  .feed(graph.learningRate, lr)
                  .addTarget(graph.update)
                  .fetch(graph.loss);
          graph.labels.ifPresent(l -> runner.feed(l, y));
          if (i == steps) {
            after.accept(runner);
            break;
          }
          long start = System.nanoTime();
          runner.run().close();
          if (i >= 0) {
            seconds[i] = (System.nanoTime() - start) / 1e9;
          }
        }
      }
      return seconds;
    }
  }
}
