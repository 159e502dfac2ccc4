package org.tfdiffusion.train;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.data.Batch;
import org.tfdiffusion.data.BatchIterator;
import org.tfdiffusion.data.BatchPosition;
import org.tfdiffusion.data.DataOptions;
import org.tfdiffusion.data.DataSources;
import org.tfdiffusion.data.ImageDataset;
import org.tfdiffusion.data.ImageFit;
import org.tfdiffusion.graph.BigStack;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.ProgressMeter;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.SampleGrid;
import org.tfdiffusion.run.TrainConfig;

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

  /**
   * What a finished (or stopped) run reports.
   *
   * @param loss the loss as metrics.csv, TensorBoard and the progress report show it: the mean over
   *     the last logged interval (the last {@code --log-every} steps)
   * @param lossSteps the steps that {@code loss} is the mean of, e.g. "591-600"
   */
  public record Outcome(
      Path runDir,
      long step,
      double loss,
      String lossSteps,
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
  private final GracefulStop stop = new GracefulStop();
  private Runnable beforeCheckpointRename = () -> {};
  private Runnable beforeSampleGrid = () -> {};

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
    stop.request();
  }

  /**
   * What the shutdown hook does on Ctrl-C or SIGTERM: asks the loop to stop, waits until its
   * checkpoint is saved (at most {@code saveWait}), then at most {@code finishWait} for the final
   * sample grid.
   */
  GracefulStop.Ending stopAndWait(java.time.Duration saveWait, java.time.Duration finishWait) {
    return stop.requestAndAwait(saveWait, finishWait);
  }

  /** For tests: runs between writing a checkpoint's files and renaming it into place. */
  public void beforeCheckpointRename(Runnable hook) {
    this.beforeCheckpointRename = hook;
  }

  /** For tests: runs before each sample grid is drawn. */
  void beforeSampleGrid(Runnable hook) {
    this.beforeSampleGrid = hook;
  }

  /** Loads the run's dataset, fitted to the model. */
  public static ImageDataset loadData(TrainConfig config) {
    UNetConfig model = config.model();
    TrainConfig.Data data = config.data();
    ImageFit fit = ImageFit.to(model.imageSize(), model.channels()).withMode(data.fit());
    DataOptions options = DataOptions.defaults().withSplit(data.split()).withFit(fit);
    return DataSources.open(data.source(), options);
  }

  /**
   * A conditional config completed from the data: the number of classes and their names.
   *
   * @throws IllegalArgumentException if the data has no labels or another number of classes
   */
  public static TrainConfig withClasses(TrainConfig config, ImageDataset dataset) {
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
    return start(runDir, config, false);
  }

  /**
   * Starts a run over in {@code runDir}, which holds a run that stopped before its first
   * checkpoint: its config.json, metrics.csv, sample grids and TensorBoard events are replaced.
   *
   * @throws IllegalArgumentException if the run has a checkpoint (continue it with resume)
   */
  public Outcome restart(Path runDir, TrainConfig config) {
    return start(runDir, config, true);
  }

  private Outcome start(Path runDir, TrainConfig config, boolean over) {
    TrainConfig given = config;
    cluster.ifPresent(c -> c.check(given));
    ImageDataset dataset = loadData(config);
    config = withClasses(config, dataset);
    if (over) {
      RunDirectory.discardUncheckpointed(runDir);
    }
    RunDirectory run = RunDirectory.create(runDir, config);
    return loop(run, config, dataset, List.of());
  }

  /**
   * Continues the run in {@code runDir} from its latest checkpoint up to {@code totalSteps} (or the
   * configured steps when empty).
   */
  public Outcome resume(Path runDir, Optional<Integer> totalSteps) {
    return resume(
        runDir, c -> totalSteps.map(n -> c.withTraining(c.training().withSteps(n))).orElse(c));
  }

  /**
   * Continues the run in {@code runDir} from its newest intact checkpoint, with the run's
   * config.json changed by {@code changes} (the command line's total steps and schedule of logs,
   * checkpoints and grids; see the {@code train} command). A run that stopped before its first
   * checkpoint starts from step 0 with its config.json. config.json is rewritten only when the
   * changes pass every check.
   *
   * @throws IllegalArgumentException when the total steps lie below the latest checkpoint, or the
   *     data no longer is the run's
   */
  public Outcome resume(Path runDir, UnaryOperator<TrainConfig> changes) {
    RunDirectory run = RunDirectory.open(runDir);
    TrainConfig recorded = run.config();
    TrainConfig config = changes.apply(recorded);
    Checkpoints checkpoints = run.checkpoints();
    for (Checkpoints.Damaged d : checkpoints.damaged()) {
      out.printf("warning: %s is damaged (%s); it is skipped%n", d.dir(), d.reason());
    }
    List<Checkpoints.Checkpoint> candidates = new ArrayList<>(checkpoints.list());
    Collections.reverse(candidates);
    int total = config.training().steps();
    if (candidates.isEmpty() && !checkpoints.damaged().isEmpty()) {
      throw new IllegalStateException(
          String.format(
              "every checkpoint of %s is damaged (%s): nothing to resume from; repair its %s, or"
                  + " start a new run with another --run-dir",
              runDir, checkpoints.damaged().get(0).reason(), Checkpoints.STATE));
    }
    if (candidates.isEmpty()) {
      out.printf(
          "%s has no checkpoint yet (it stopped before its first one): training it from step 0"
              + " with its %s%n",
          runDir, RunDirectory.CONFIG);
    } else {
      long at = candidates.get(0).state().step();
      if (total < at) {
        throw new IllegalArgumentException(
            String.format(
                "--steps %d is below step %d of the run's latest checkpoint (%s): a resume"
                    + " continues from there; give --steps %d or more, or leave --steps out (the"
                    + " run's total: %d)",
                total, at, candidates.get(0).dir(), at, recorded.training().steps()));
      }
      if (total != recorded.training().steps()) {
        describeNewTotal(recorded, config, at);
      }
    }
    out.flush();
    cluster.ifPresent(c -> c.check(config));
    ImageDataset dataset = loadData(config);
    if (!candidates.isEmpty()) {
      Checkpoints.State state = candidates.get(0).state();
      if (state.datasetSize() != dataset.size() || !state.dataset().equals(dataset.description())) {
        throw new IllegalArgumentException(
            String.format(
                "the run was trained on %s (%d images) but the data now is %s (%d images);"
                    + " resuming would not continue the same run",
                state.dataset(), state.datasetSize(), dataset.description(), dataset.size()));
      }
    }
    return loop(run, config, dataset, candidates);
  }

  /**
   * Says what a new total of steps changes: the end of the run and, with cosine decay, the learning
   * rates from the checkpoint on (the schedule is planned over the total).
   */
  private void describeNewTotal(TrainConfig recorded, TrainConfig config, long at) {
    int was = recorded.training().steps();
    int now = config.training().steps();
    LearningRateSchedule before = LearningRateSchedule.of(recorded);
    LearningRateSchedule after = LearningRateSchedule.of(config);
    long next = at + 1;
    if (next <= now && before.at(next) != after.at(next)) {
      out.printf(
          "warning: --steps %d (the run's total was %d) re-plans the cosine learning-rate decay"
              + " to end at step %d: from step %d on the rates differ from the run's plan (step"
              + " %d: %.3g instead of %.3g)%n",
          now, was, now, next, next, after.at(next), before.at(next));
    } else {
      out.printf("  total steps: %d (the run's was %d)%n", now, was);
    }
  }

  /**
   * Restores the newest checkpoint of {@code candidates} (newest first) that restores, saying so
   * when it is not the newest.
   *
   * @throws IllegalStateException when none restores, with each one's reason
   */
  private Checkpoints.Checkpoint restoreNewestIntact(
      TrainingGraph graph, Session session, List<Checkpoints.Checkpoint> candidates, Path root) {
    List<String> failures = new ArrayList<>();
    for (Checkpoints.Checkpoint c : candidates) {
      try {
        graph.restore(session, c.prefix());
        if (!failures.isEmpty()) {
          out.printf(
              "  resuming from the newest intact checkpoint: %s (step %d)%n",
              c.dir(), c.state().step());
        }
        return c;
      } catch (TensorFlowException | IllegalArgumentException | IllegalStateException e) {
        String reason = firstLine(e.getMessage());
        failures.add(c.dir().getFileName() + ": " + reason);
        out.printf("warning: checkpoint %s cannot be restored (%s)%n", c.dir(), reason);
        out.flush();
      }
    }
    throw new IllegalStateException(
        String.format(
            "no checkpoint of %s can be restored (%s); if its config.json was edited, put it back,"
                + " else start the run over in another --run-dir",
            root, String.join("; ", failures)));
  }

  private static String firstLine(String message) {
    if (message == null) {
      return "no message";
    }
    String line = message.strip();
    int nl = line.indexOf('\n');
    return nl < 0 ? line : line.substring(0, nl);
  }

  /**
   * Trains {@code run} with {@code config} from the newest of {@code candidates} (newest first)
   * that restores, or from freshly initialised weights when there are none. A config that differs
   * from the run's config.json replaces it once the weights are restored.
   */
  private Outcome loop(
      RunDirectory recorded,
      TrainConfig config,
      ImageDataset dataset,
      List<Checkpoints.Checkpoint> candidates) {
    RunDirectory run = recorded;
    TrainConfig.Training t = config.training();
    try {
      run.checkpoints().removeStaleTemporaries();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    checkLabels(config.model(), dataset);
    printStart(run, config, dataset, !candidates.isEmpty());

    Thread hook =
        new Thread(
            () -> stop.requestAndAwait(GracefulStop.SAVE_WAIT, GracefulStop.FINISH_WAIT),
            "tfdiffusion-stop");
    Runtime.getRuntime().addShutdownHook(hook);
    String during = "opening the session";
    Optional<Checkpoints.Checkpoint> saved = Optional.empty();
    try (TrainingGraph graph =
            new TrainingGraph(
                config,
                TrainingGraph.Options.withTensorBoard(run.tensorBoardDir())
                    .replicas(cluster.map(c -> c.cluster().devices()).orElse(List.of()))
                    .nativeConvolutions(sessionOptions.nativeConvolutions()));
        OpenSession open = openSession(graph)) {
      Session session = open.session();
      during = candidates.isEmpty() ? "initialising the variables" : "restoring the checkpoint";
      Optional<Checkpoints.Checkpoint> from =
          candidates.isEmpty()
              ? Optional.empty()
              : Optional.of(restoreNewestIntact(graph, session, candidates, run.root()));
      saved = from;
      if (!config.equals(run.config())) {
        run = run.withConfig(config);
      }
      if (from.isPresent()) {
        out.printf("  from checkpoint %s (step %d)%n", from.get().dir(), from.get().state().step());
        out.flush();
      } else {
        initialise(graph, session, config);
      }
      Loop state = new Loop(run, config, dataset, graph, session, from);
      graph.tensorBoard.open(session);
      try (TrainingMetrics metrics =
              TrainingMetrics.open(
                  run.metricsFile(), state.step, w -> out.println("warning: " + w));
          ProgressMeter bar = progressBar(state.step, t.steps())) {
        ProgressMeter.SteadyRate steady = new ProgressMeter.SteadyRate();
        steady.observe(state.step, state.started);
        while (state.step < t.steps() && !stop.requested()) {
          long n = state.step + 1;
          during = "step " + n;
          state.step(n);
          steady.observe(n, System.nanoTime());
          if (n % t.logEvery() == 0 || n == t.steps() || stop.requested()) {
            report(bar, state.logRow(metrics), t.steps(), steady);
          }
          if (bar != null) {
            bar.stepTo(n);
          }
          boolean stopping = stop.requested() && n < t.steps();
          boolean end = n == t.steps() || stopping;
          // the checkpoint first: a stop waits for it, and only briefly for the grid after it
          if (t.checkpointEvery() > 0 && n % t.checkpointEvery() == 0 || end) {
            during = "the checkpoint of step " + n;
            saved = Optional.of(state.checkpoint(stopping));
            if (end) {
              stop.checkpointSaved();
            }
          }
          if (t.sampleEvery() > 0 && n % t.sampleEvery() == 0 || end) {
            during = "the sample grid of step " + n;
            beforeSampleGrid.run();
            state.lastGrid = Optional.of(sampleGrid(session, graph, run, config, n));
          }
        }
      }
      graph.tensorBoard.close(session);
      return state.finish();
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
      stop.finished();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the JVM is exiting: the hook is already running and waits for the loop's latches
      }
    }
  }

  /** A conditional model needs labelled data with as many classes. */
  private static void checkLabels(UNetConfig model, ImageDataset dataset) {
    if (model.conditional()
        && (!dataset.labelled() || dataset.numClasses() != model.numClasses())) {
      throw new IllegalArgumentException(
          "the model has "
              + model.numClasses()
              + " classes but "
              + dataset.description()
              + (dataset.labelled() ? " has " + dataset.numClasses() : " has no labels"));
    }
  }

  /** The run's opening lines: what is trained on what, how, and warnings about the setup. */
  private void printStart(
      RunDirectory run, TrainConfig config, ImageDataset dataset, boolean resuming) {
    TrainConfig.Training t = config.training();
    out.printf(
        "%s run %s: %s, %s%n  data: %s (%d images)%n  model: %s%n  %d steps of batch %d%s, %s%n",
        resuming ? "resuming" : "starting",
        run.root(),
        config.preset(),
        org.tfdiffusion.nn.ConvKernels.summary(sessionOptions.nativeConvolutions()),
        dataset.description(),
        dataset.size(),
        config.model().describe(),
        t.steps(),
        t.batchSize(),
        t.accumulation() > 1 ? " (" + t.accumulation() + " micro-batches)" : "",
        sessionOptions.describe());
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
  }

  /** Fresh weights: the initialisers, then a fine-tuning run's parent weights over them. */
  private void initialise(TrainingGraph graph, Session session, TrainConfig config) {
    graph.initialize(session);
    if (config.fineTune().active()) {
      long frozen =
          graph.weights.variables().keySet().stream().filter(config.fineTune()::frozen).count();
      FineTuning.print(
          out, config.fineTune(), FineTuning.load(graph, session, config.fineTune()), (int) frozen);
      graph.replication.ifPresent(r -> r.sync(session));
      out.flush();
    }
  }

  /** The loss and gradient norm of one optimizer step. */
  private record StepResult(double loss, float gradNorm) {}

  /**
   * The state of a running loop: the step, the data position, the loss of the latest metrics row
   * (what the progress report, metrics.csv, TensorBoard, the checkpoints and the closing line all
   * show), the current log interval, and the latest checkpoint and grid.
   */
  private final class Loop {
    final RunDirectory run;
    final TrainConfig config;
    final TrainConfig.Training t;
    final ImageDataset dataset;
    final TrainingGraph graph;
    final Session session;
    final LearningRateSchedule lr;
    final BatchIterator batches;
    final long started = System.nanoTime();
    long step;
    double rate = Double.NaN;
    float gradNorm = Float.NaN;
    double loggedLoss;
    String loggedSteps;
    Optional<Checkpoints.Checkpoint> lastCheckpoint;
    Optional<Path> lastGrid = Optional.empty();
    double intervalLoss;
    int intervalCount;
    long intervalImages;
    long intervalStart = System.nanoTime();

    Loop(
        RunDirectory run,
        TrainConfig config,
        ImageDataset dataset,
        TrainingGraph graph,
        Session session,
        Optional<Checkpoints.Checkpoint> from) {
      this.run = run;
      this.config = config;
      this.t = config.training();
      this.dataset = dataset;
      this.graph = graph;
      this.session = session;
      this.lr = LearningRateSchedule.of(config);
      this.step = from.map(c -> c.state().step()).orElse(0L);
      BatchPosition position =
          from.map(c -> new BatchPosition(c.state().epoch(), c.state().cursor()))
              .orElse(BatchPosition.START);
      this.batches =
          BatchIterator.builder(dataset)
              .batchSize(t.microBatch())
              .seed(t.seed())
              .horizontalFlip(config.data().flip())
              .startAt(position)
              .build();
      this.loggedLoss = from.map(c -> c.state().loss()).orElse(Double.NaN);
      this.loggedSteps = from.map(c -> "before " + (c.state().step() + 1)).orElse("none");
      this.lastCheckpoint = from;
    }

    /** Runs optimizer step {@code n} and adds it to the log interval. */
    void step(long n) {
      rate = lr.at(n);
      StepResult result = run(n, rate);
      if (!Double.isFinite(result.loss()) || !Float.isFinite(result.gradNorm())) {
        throw new NonFiniteLossException(
            n, Double.isFinite(result.loss()) ? result.gradNorm() : result.loss(), lastCheckpoint);
      }
      step = n;
      gradNorm = result.gradNorm();
      intervalLoss += result.loss();
      intervalCount++;
      intervalImages += t.batchSize();
    }

    /** One optimizer step: its micro-batches' gradients, then the update. */
    private StepResult run(long n, double rate) {
      double loss = 0;
      float norm = Float.NaN;
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
              loss += TensorIO.toFloats(r.get(0))[0];
              if (graph.accumulate.isEmpty()) {
                norm = TensorIO.toFloats(r.get(1))[0];
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
              norm = TensorIO.toFloats(r.get(0))[0];
            }
          }
        }
      }
      return new StepResult(loss / t.accumulation(), norm);
    }

    /** Closes the log interval: a metrics.csv row and TensorBoard scalars. */
    TrainingMetrics.Row logRow(TrainingMetrics metrics) {
      double seconds = (System.nanoTime() - intervalStart) / 1e9;
      double imagesPerSecond = intervalImages / seconds;
      double meanLoss = intervalLoss / intervalCount;
      loggedLoss = meanLoss;
      loggedSteps = lossSteps(step - intervalCount + 1, step);
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
      intervalLoss = 0;
      intervalCount = 0;
      intervalImages = 0;
      intervalStart = System.nanoTime();
      return row;
    }

    /** Saves a checkpoint of the current step; {@code stopping} says how to continue. */
    Checkpoints.Checkpoint checkpoint(boolean stopping) {
      if (graph.replication.isPresent()) {
        checkReplicas(session, graph.replication.get(), step);
      }
      Checkpoints.Checkpoint c =
          run.checkpoints()
              .save(
                  prefix -> graph.save(session, prefix),
                  new Checkpoints.State(
                      step,
                      batches.position().epoch(),
                      batches.position().cursor(),
                      t.seed(),
                      loggedLoss,
                      dataset.size(),
                      dataset.description()),
                  t.keepCheckpoints(),
                  beforeCheckpointRename);
      lastCheckpoint = Optional.of(c);
      graph.tensorBoard.flush(session);
      if (stopping) {
        out.printf(
            "stopped at step %d: checkpoint %s saved; continue with --resume --run-dir %s%n",
            step, c.dir(), run.root());
        out.flush();
      }
      return c;
    }

    /** The closing lines and the outcome. */
    Outcome finish() {
      out.printf(
          "done: step %d, loss %.4f (mean of steps %s, as in metrics.csv), %.1f min%n"
              + "  run folder:   %s%n  checkpoint:   %s%n  samples:      %s%n"
              + "  metrics:      %s%n  TensorBoard:  tensorboard --logdir %s%n",
          step,
          loggedLoss,
          loggedSteps,
          (System.nanoTime() - started) / 6e10,
          run.root(),
          lastCheckpoint.map(c -> c.dir().toString()).orElse("(none)"),
          lastGrid.map(Path::toString).orElse("(none)"),
          run.metricsFile(),
          run.tensorBoardDir());
      out.flush();
      return new Outcome(
          run.root(),
          step,
          loggedLoss,
          loggedSteps,
          lastGrid,
          lastCheckpoint.map(Checkpoints.Checkpoint::dir));
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

  private ProgressMeter progressBar(long start, int total) {
    if (progress != Progress.BAR) {
      return null;
    }
    return ProgressMeter.create("train", start, total, "steps", System.err, true);
  }

  /**
   * Shows a logged row; {@code steady} counts this process's steps after its first one only, so the
   * ETA is skewed neither by the steps of a resumed run nor by the first step's compilation.
   */
  private void report(
      ProgressMeter bar, TrainingMetrics.Row row, int total, ProgressMeter.SteadyRate steady) {
    String line =
        String.format(
            "loss %.4f | lr %.2e | %.1f img/s",
            row.loss(), row.learningRate(), row.imagesPerSecond());
    if (bar != null) {
      bar.setExtraMessage(line);
    } else if (progress == Progress.LINES) {
      String eta = steady.remaining(row.step(), total).map(ProgressMeter::formatEta).orElse("?");
      out.printf("step %d/%d  %s | eta %s%n", row.step(), total, line, eta);
      out.flush();
    }
  }

  /** "591-600", or "600" for one step. */
  static String lossSteps(long first, long last) {
    return first == last ? Long.toString(last) : first + "-" + last;
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
