package org.tfdiffusion.train;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.BigStack;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.train.data.Batch;
import org.tfdiffusion.train.data.BatchIterator;
import org.tfdiffusion.train.data.BatchPosition;
import org.tfdiffusion.train.data.DataOptions;
import org.tfdiffusion.train.data.DataSources;
import org.tfdiffusion.train.data.FitMode;
import org.tfdiffusion.train.data.ImageDataset;
import org.tfdiffusion.train.data.ImageFit;
import org.tfdiffusion.train.data.Split;

/**
 * Runs a training run: data, the graph, the loop, metrics, TensorBoard, checkpoints and sample
 * grids. Every random draw is a function of the run seed and the step, and the data order of the
 * seed and the epoch, so a run resumed from a checkpoint continues exactly as if it had not
 * stopped.
 */
public final class Trainer {
  /** How the loop reports progress. */
  public enum Progress {
    /** A progress bar with step, loss, images/s and ETA (on a terminal). */
    BAR,
    /** One line per log interval (for logs and CI). */
    LINES,
    /** Only the start and the end. */
    QUIET
  }

  /** What a finished (or stopped) run reports. */
  public record Outcome(
      Path runDir,
      long step,
      double lastLoss,
      Optional<Path> lastGrid,
      Optional<Path> checkpoint) {}

  /** Thrown when the loss stops being finite; the last good checkpoint is kept. */
  public static final class NonFiniteLossException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    NonFiniteLossException(long step, double loss, Optional<Checkpoints.Checkpoint> lastGood) {
      super(
          String.format(
              "the loss became %s at step %d; training stopped without saving. %s Try a lower"
                  + " --lr or gradient clipping (--clip-norm).",
              loss,
              step,
              lastGood
                  .map(
                      c ->
                          "The last good checkpoint is "
                              + c.dir()
                              + " (step "
                              + c.state().step()
                              + ").")
                  .orElse("No checkpoint was written before it.")));
    }
  }

  private final PrintWriter out;
  private final Progress progress;
  private final SessionOptions sessionOptions;
  private final Optional<DistributedTraining> cluster;
  private volatile boolean stopRequested;
  private Runnable beforeCheckpointRename = () -> {};

  public Trainer(PrintWriter out, Progress progress, SessionOptions sessionOptions) {
    this(out, progress, sessionOptions, Optional.empty());
  }

  /**
   * @param cluster empty: train in this process; otherwise this process is the chief of a cluster
   *     whose tasks each run a replica of the step (see {@link DistributedTraining})
   */
  public Trainer(
      PrintWriter out,
      Progress progress,
      SessionOptions sessionOptions,
      Optional<DistributedTraining> cluster) {
    this.out = out;
    this.progress = progress;
    this.sessionOptions = sessionOptions;
    this.cluster = cluster;
  }

  /** Asks the loop to save a checkpoint and stop after the current step (e.g. on Ctrl-C). */
  public void requestStop() {
    stopRequested = true;
  }

  /** For tests: runs between writing a checkpoint's files and renaming it into place. */
  void beforeCheckpointRename(Runnable hook) {
    this.beforeCheckpointRename = hook;
  }

  /** Loads the run's dataset, fitted to the model. */
  public static ImageDataset loadData(TrainConfig config) {
    UNetConfig model = config.model();
    TrainConfig.Data data = config.data();
    ImageFit fit =
        ImageFit.to(model.imageSize(), model.channels()).withMode(FitMode.lookup(data.fit()));
    DataOptions options = DataOptions.defaults().withSplit(Split.lookup(data.split())).withFit(fit);
    return DataSources.open(data.source(), options);
  }

  /**
   * A conditional config completed from the data: the number of classes and their names.
   *
   * @throws IllegalArgumentException if the data has no labels or another number of classes
   */
  static TrainConfig withClasses(TrainConfig config, ImageDataset dataset) {
    if (!config.conditioning().enabled()) {
      return config;
    }
    if (!dataset.labelled()) {
      throw new IllegalArgumentException(
          dataset.description()
              + " has no labels, so it cannot train a class-conditional model; use an IDX folder or"
              + " an image folder with one sub-folder per class, or --no-conditional");
    }
    int classes = dataset.numClasses();
    int asked = config.model().numClasses();
    if (asked != 0 && asked != classes) {
      throw new IllegalArgumentException(
          String.format(
              "--classes %d does not match the %d classes of %s",
              asked, classes, dataset.description()));
    }
    TrainConfig.Conditioning c = config.conditioning();
    return config
        .withModel(config.model().toBuilder().numClasses(classes).build())
        .withConditioning(
            new TrainConfig.Conditioning(true, c.pUncond(), c.guidance(), dataset.classNames()));
  }

  /** Starts a new run in {@code runDir}. */
  public Outcome train(Path runDir, TrainConfig config) {
    TrainConfig given = config;
    cluster.ifPresent(c -> c.check(given));
    ImageDataset dataset = loadData(config);
    config = withClasses(config, dataset);
    RunDirectory run = RunDirectory.create(runDir, config);
    return loop(run, dataset, Optional.empty());
  }

  /**
   * Continues the run in {@code runDir} from its latest checkpoint up to {@code totalSteps} (or the
   * configured steps when empty).
   */
  public Outcome resume(Path runDir, Optional<Integer> totalSteps) {
    RunDirectory run = RunDirectory.open(runDir);
    TrainConfig config = run.config();
    if (totalSteps.isPresent() && totalSteps.get() != config.training().steps()) {
      config = config.withTraining(config.training().withSteps(totalSteps.get()));
      run = run.withConfig(config);
    }
    Checkpoints.Checkpoint latest =
        run.checkpoints()
            .latest()
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        runDir
                            + " has no checkpoint to resume from; start it again without --resume"));
    TrainConfig resumed = config;
    cluster.ifPresent(c -> c.check(resumed));
    ImageDataset dataset = loadData(config);
    Checkpoints.State state = latest.state();
    if (state.datasetSize() != dataset.size() || !state.dataset().equals(dataset.description())) {
      throw new IllegalArgumentException(
          String.format(
              "the run was trained on %s (%d images) but the data now is %s (%d images);"
                  + " resuming would not continue the same run",
              state.dataset(), state.datasetSize(), dataset.description(), dataset.size()));
    }
    return loop(run, dataset, Optional.of(latest));
  }

  private Outcome loop(
      RunDirectory run, ImageDataset dataset, Optional<Checkpoints.Checkpoint> from) {
    TrainConfig config = run.config();
    TrainConfig.Training t = config.training();
    UNetConfig model = config.model();
    Checkpoints checkpoints = run.checkpoints();
    try {
      checkpoints.removeStaleTemporaries();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    long startStep = from.map(c -> c.state().step()).orElse(0L);
    BatchPosition position =
        from.map(c -> new BatchPosition(c.state().epoch(), c.state().cursor()))
            .orElse(BatchPosition.START);
    if (model.conditional()
        && (!dataset.labelled() || dataset.numClasses() != model.numClasses())) {
      throw new IllegalArgumentException(
          "the model has "
              + model.numClasses()
              + " classes but "
              + dataset.description()
              + (dataset.labelled() ? " has " + dataset.numClasses() : " has no labels"));
    }
    BatchIterator batches =
        BatchIterator.builder(dataset)
            .batchSize(t.microBatch())
            .seed(t.seed())
            .horizontalFlip(config.data().flip())
            .startAt(position)
            .build();
    LearningRateSchedule lr = LearningRateSchedule.of(config);
    out.printf(
        "%s run %s: %s%n  data: %s (%d images)%n  model: %s%n  %d steps of batch %d%s, %s%n",
        from.isPresent() ? "resuming" : "starting",
        run.root(),
        config.preset(),
        dataset.description(),
        dataset.size(),
        model.describe(),
        t.steps(),
        t.batchSize(),
        t.accumulation() > 1 ? " (" + t.accumulation() + " micro-batches)" : "",
        sessionOptions.describe());
    from.ifPresent(c -> out.printf("  from checkpoint %s (step %d)%n", c.dir(), c.state().step()));
    cluster.ifPresent(
        c ->
            out.printf(
                "  cluster: %d tasks, %d images each per step; chief %s%n",
                c.cluster().size(),
                t.batchSize() / c.cluster().size(),
                c.cluster().chief().describe()));
    if (sessionOptions.xlaFlagMissing()) {
      out.println(
          "  warning: --xla without TF_XLA_FLAGS="
              + SessionOptions.GLOBAL_JIT_FLAG
              + " compiles only part of the graph; the ./tfdiffusion launcher sets it (and XLA_FLAGS="
              + SessionOptions.FAST_MATH_FLAG
              + ", 5-10% faster for the tutorial's model)");
    }
    out.flush();

    Thread trainingThread = Thread.currentThread();
    Thread hook =
        new Thread(
            () -> {
              stopRequested = true;
              try {
                trainingThread.join(120_000);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            },
            "tfdiffusion-stop");
    Runtime.getRuntime().addShutdownHook(hook);
    String during = "opening the session";
    Optional<Checkpoints.Checkpoint> saved = from;
    try (TrainingGraph graph =
            new TrainingGraph(
                config,
                Optional.of(run.tensorBoardDir()),
                cluster.map(c -> c.cluster().devices()).orElse(List.of()),
                sessionOptions.nativeConvolutions());
        OpenSession open = openSession(graph);
        TrainingMetrics metrics = TrainingMetrics.open(run.metricsFile(), startStep)) {
      Session session = open.session();
      during = from.isPresent() ? "restoring the checkpoint" : "initialising the variables";
      if (from.isPresent()) {
        graph.restore(session, from.get().prefix());
      } else {
        graph.initialize(session);
        if (config.fineTune().active()) {
          long frozen =
              graph.weights.variables().keySet().stream().filter(config.fineTune()::frozen).count();
          FineTuning.print(
              out,
              config.fineTune(),
              FineTuning.load(graph, session, config.fineTune()),
              (int) frozen);
          graph.replication.ifPresent(r -> r.sync(session));
          out.flush();
        }
      }
      graph.tensorBoard.open(session);
      long step = startStep;
      double lastLoss = Double.NaN;
      Optional<Checkpoints.Checkpoint> lastCheckpoint = from;
      Optional<Path> lastGrid = Optional.empty();
      long started = System.nanoTime();
      double intervalLoss = 0;
      int intervalCount = 0;
      long intervalStart = System.nanoTime();
      long intervalImages = 0;
      try (ProgressBar bar = progressBar(startStep, t.steps())) {
        while (step < t.steps() && !stopRequested) {
          long n = step + 1;
          during = "step " + n;
          double rate = lr.at(n);
          double stepLoss = 0;
          float gradNorm = Float.NaN;
          try (TFloat32 lrTensor = TFloat32.scalarOf((float) rate)) {
            for (int micro = 0; micro < t.accumulation(); micro++) {
              Batch batch = batches.next();
              boolean last = micro == t.accumulation() - 1;
              try (TFloat32 x = TensorIO.floats(Shape.of(batch.shape()), batch.images());
                  TInt64 seed = TInt64.vectorOf(t.seed(), n * t.accumulation() + micro);
                  TInt32 labels = batch.labelled() ? TInt32.vectorOf(batch.labels()) : null) {
                Session.Runner runner =
                    session.runner().feed(graph.images, x).feed(graph.seed, seed).fetch(graph.loss);
                if (graph.labels.isPresent()) {
                  runner.feed(graph.labels.get(), labels);
                }
                if (graph.accumulate.isPresent()) {
                  runner.addTarget(graph.accumulate.get());
                } else {
                  runner
                      .feed(graph.learningRate, lrTensor)
                      .addTarget(graph.update)
                      .fetch(graph.gradientNorm);
                }
                try (Result r = runner.run()) {
                  stepLoss += TensorIO.toFloats(r.get(0))[0];
                  if (graph.accumulate.isEmpty()) {
                    gradNorm = TensorIO.toFloats(r.get(1))[0];
                  }
                }
              }
              if (last && graph.accumulate.isPresent()) {
                try (Result r =
                    session
                        .runner()
                        .feed(graph.learningRate, lrTensor)
                        .addTarget(graph.update)
                        .fetch(graph.gradientNorm)
                        .run()) {
                  gradNorm = TensorIO.toFloats(r.get(0))[0];
                }
              }
            }
          }
          stepLoss /= t.accumulation();
          if (!Double.isFinite(stepLoss) || !Float.isFinite(gradNorm)) {
            throw new NonFiniteLossException(
                n, Double.isFinite(stepLoss) ? gradNorm : stepLoss, lastCheckpoint);
          }
          step = n;
          lastLoss = stepLoss;
          intervalLoss += stepLoss;
          intervalCount++;
          intervalImages += t.batchSize();
          if (step % t.logEvery() == 0 || step == t.steps()) {
            double seconds = (System.nanoTime() - intervalStart) / 1e9;
            double imagesPerSecond = intervalImages / seconds;
            double meanLoss = intervalLoss / intervalCount;
            TrainingMetrics.Row row =
                new TrainingMetrics.Row(
                    step,
                    batches.position().epoch(),
                    meanLoss,
                    rate,
                    gradNorm,
                    imagesPerSecond,
                    metrics.elapsedBefore() + (System.nanoTime() - started) / 1e9);
            metrics.append(row);
            Map<String, Float> scalars = new LinkedHashMap<>();
            scalars.put("loss", (float) meanLoss);
            scalars.put("learning_rate", (float) rate);
            scalars.put("grad_norm", gradNorm);
            scalars.put("images_per_second", (float) imagesPerSecond);
            graph.tensorBoard.scalars(session, step, scalars);
            report(bar, row, t.steps(), (step - startStep) / ((System.nanoTime() - started) / 1e9));
            intervalLoss = 0;
            intervalCount = 0;
            intervalImages = 0;
            intervalStart = System.nanoTime();
          }
          if (bar != null) {
            bar.stepTo(step);
          }
          boolean end = step == t.steps() || stopRequested;
          if (t.sampleEvery() > 0 && step % t.sampleEvery() == 0 || end) {
            during = "the sample grid of step " + step;
            lastGrid = Optional.of(sampleGrid(session, graph, run, config, step));
          }
          if (t.checkpointEvery() > 0 && step % t.checkpointEvery() == 0 || end) {
            during = "the checkpoint of step " + step;
            if (graph.replication.isPresent()) {
              checkReplicas(session, graph.replication.get(), step);
            }
            lastCheckpoint =
                Optional.of(
                    checkpoints.save(
                        prefix -> graph.save(session, prefix),
                        new Checkpoints.State(
                            step,
                            batches.position().epoch(),
                            batches.position().cursor(),
                            t.seed(),
                            lastLoss,
                            dataset.size(),
                            dataset.description()),
                        t.keepCheckpoints(),
                        beforeCheckpointRename));
            saved = lastCheckpoint;
            graph.tensorBoard.flush(session);
          }
        }
      }
      graph.tensorBoard.close(session);
      if (stopRequested && step < t.steps()) {
        out.printf("stopped at step %d; continue with --resume --run-dir %s%n", step, run.root());
      }
      out.printf(
          "done: step %d, loss %.4f, %.1f min%n  run folder:   %s%n  checkpoint:   %s%n  samples:      %s%n"
              + "  metrics:      %s%n  TensorBoard:  tensorboard --logdir %s%n",
          step,
          lastLoss,
          (System.nanoTime() - started) / 6e10,
          run.root(),
          lastCheckpoint.map(c -> c.dir().toString()).orElse("(none)"),
          lastGrid.map(Path::toString).orElse("(none)"),
          run.metricsFile(),
          run.tensorBoardDir());
      out.flush();
      return new Outcome(
          run.root(), step, lastLoss, lastGrid, lastCheckpoint.map(Checkpoints.Checkpoint::dir));
    } catch (TensorFlowException e) {
      if (cluster.isEmpty()) {
        throw e;
      }
      throw cluster
          .get()
          .explain(
              e,
              during,
              saved
                  .map(
                      c -> "the last checkpoint is " + c.dir() + " (step " + c.state().step() + ")")
                  .orElse("no checkpoint was written"));
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the JVM is exiting: the hook is already running and waits for this thread
      }
    }
  }

  /** The training session; a cluster's is closed with a bound (see DistributedTraining#close). */
  private record OpenSession(Session session, boolean remote) implements AutoCloseable {
    @Override
    public void close() {
      if (remote) {
        DistributedTraining.close(session);
      } else {
        session.close();
      }
    }
  }

  private OpenSession openSession(TrainingGraph graph) {
    return cluster.isPresent()
        ? new OpenSession(cluster.get().open(graph.graph, sessionOptions.toConfigProto()), true)
        : new OpenSession(new Session(graph.graph, sessionOptions.toConfigProto()), false);
  }

  /**
   * Prints how far the replicas' weights are from the chief's (0 when identical, as they should
   * be); if they drifted apart (different CPUs can round differently), copies the chief's back.
   */
  private void checkReplicas(Session session, Replication replication, long step) {
    float[] divergence = replication.divergence(session);
    float max = 0;
    for (float d : divergence) {
      max = Math.max(max, d);
    }
    out.printf(
        "step %d: %d replicas, max |weight - chief's| per task %s%s%n",
        step,
        replication.size(),
        java.util.Arrays.toString(divergence),
        max == 0 ? " (identical)" : "; copied the chief's weights to every task");
    out.flush();
    if (max != 0) {
      replication.sync(session);
    }
  }

  private ProgressBar progressBar(long start, int total) {
    if (progress != Progress.BAR) {
      return null;
    }
    return new ProgressBarBuilder()
        .setTaskName("train")
        .setInitialMax(total)
        .startsFrom(start, java.time.Duration.ZERO)
        .setStyle(ProgressBarStyle.ASCII)
        .setUpdateIntervalMillis(1000)
        .setConsumer(new me.tongfei.progressbar.ConsoleProgressBarConsumer(System.err))
        .build();
  }

  /**
   * Shows a logged row; {@code stepsPerSecond} counts this process's steps only, so the ETA of a
   * resumed run is not skewed by the steps done before it.
   */
  private void report(ProgressBar bar, TrainingMetrics.Row row, int total, double stepsPerSecond) {
    String line =
        String.format(
            "loss %.4f | lr %.2e | %.1f img/s",
            row.loss(), row.learningRate(), row.imagesPerSecond());
    if (bar != null) {
      bar.setExtraMessage(line);
    } else if (progress == Progress.LINES) {
      double remaining = (total - row.step()) / stepsPerSecond;
      out.printf("step %d/%d  %s | eta %s%n", row.step(), total, line, eta(remaining));
      out.flush();
    }
  }

  private static String eta(double seconds) {
    long s = Math.round(seconds);
    return s >= 3600
        ? String.format("%dh%02dm", s / 3600, (s % 3600) / 60)
        : String.format("%dm%02ds", s / 60, s % 60);
  }

  private Path sampleGrid(
      Session session, TrainingGraph graph, RunDirectory run, TrainConfig config, long step) {
    TrainConfig.Training t = config.training();
    UNetConfig model = config.model();
    int count = t.sampleCount();
    int columns = (int) Math.ceil(Math.sqrt(count));
    if (model.conditional()) {
      // one row per class, guided with the run's guidance scale
      columns = Math.max(1, count / model.numClasses());
      count = columns * model.numClasses();
    }
    long[] seeds = new long[count];
    for (int i = 0; i < seeds.length; i++) {
      seeds[i] = t.seed() * 1_000_003L + (model.conditional() ? i % columns : i);
    }
    try (TInt64 seedTensor = TensorIO.longs(seeds)) {
      Session.Runner runner =
          session.runner().feed(graph.sampleSeeds, seedTensor).fetch(graph.samples);
      TInt32 labels = null;
      TFloat32 guidance = null;
      if (graph.sampleLabels.isPresent()) {
        int[] l = new int[seeds.length];
        float[] w = new float[seeds.length];
        for (int i = 0; i < l.length; i++) {
          l[i] = i / columns;
          w[i] = (float) config.conditioning().guidance();
        }
        labels = TInt32.vectorOf(l);
        guidance = TFloat32.vectorOf(w);
        runner.feed(graph.sampleLabels.get(), labels);
        runner.feed(graph.sampleGuidance.get(), guidance);
      }
      try (Result r = BigStack.call(runner::run)) {
        float[] images = TensorIO.toFloats(r.get(0));
        int s = model.imageSize();
        java.util.List<String> rowNames = new java.util.ArrayList<>();
        if (model.conditional()) {
          java.util.List<String> names = config.conditioning().classNames();
          for (int row = 0; row < seeds.length / columns; row++) {
            rowNames.add(row < names.size() ? names.get(row) : "class " + row);
          }
        }
        SampleGrid grid =
            SampleGrid.of(
                images,
                seeds.length,
                s,
                s,
                model.channels(),
                columns,
                SampleGrid.defaultScale(s),
                rowNames);
        Path file = run.samplesDir().resolve(String.format("step-%06d.png", step));
        grid.writePng(file);
        graph.tensorBoard.image(
            session, step, grid.pixels(), grid.height(), grid.width(), grid.channels());
        return file;
      } finally {
        if (labels != null) {
          labels.close();
          guidance.close();
        }
      }
    }
  }
}
