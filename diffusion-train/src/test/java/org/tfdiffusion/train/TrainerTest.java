package org.tfdiffusion.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.SamplerKind;

public class TrainerTest {
  @TempDir Path temp;

  private final StringWriter log = new StringWriter();

  /** A tiny model on the embedded 28x28 data: 6 steps of batch 8 take seconds. */
  public static TrainConfig tiny(int steps, int checkpointEvery, double lr) {
    return new TrainConfig(
        TrainConfig.FORMAT,
        UNetConfig.builder().imageSize(28).channels(1).baseWidth(8).levels(2).normGroups(4).build(),
        TrainConfig.Schedule.tutorial(),
        Prediction.EPSILON,
        TrainConfig.Data.embedded(),
        new TrainConfig.Optimizer(lr, 0.9, 0.999, 1e-8, 0.01, 1.0, 2, false, 0),
        new TrainConfig.Ema(0.9, true),
        new TrainConfig.Training(steps, 8, 1, 5, 1, checkpointEvery, 5, 0, 4, SamplerKind.DDIM, 2),
        TrainConfig.Conditioning.none(),
        TrainConfig.FineTune.none(),
        "test");
  }

  private Trainer trainer() {
    return new Trainer(
        new PrintWriter(log, true), Trainer.Progress.QUIET, SessionOptions.defaults());
  }

  /** Every variable of a checkpoint (weights, EMA, optimizer slots, step), by name. */
  static Map<String, float[]> variables(
      TrainConfig config, Checkpoints.Checkpoint checkpoint, Path scratch) {
    Map<String, float[]> out = new LinkedHashMap<>();
    try (TrainingGraph graph =
            new TrainingGraph(config, TrainingGraph.Options.withTensorBoard(scratch));
        Session session = new Session(graph.graph)) {
      Checkpoints.restore(session, checkpoint);
      Map<String, Variable<TFloat32>> all = new LinkedHashMap<>(graph.weights.variables());
      graph.ema.shadows().forEach((k, v) -> all.put("ema/" + k, v));
      Session.Runner runner = session.runner();
      all.values().forEach(runner::fetch);
      runner.fetch(graph.step);
      try (Result r = runner.run()) {
        int i = 0;
        for (String name : all.keySet()) {
          out.put(name, TensorIO.toFloats(r.get(i++)));
        }
        out.put("global_step", new float[] {((org.tensorflow.types.TInt64) r.get(i)).getLong()});
      }
    }
    return out;
  }

  @Test
  void aShortRunOnTheEmbeddedDataReducesTheLoss() throws Exception {
    TrainConfig config = tiny(40, 0, 3e-3);
    Trainer.Outcome outcome = trainer().train(temp.resolve("run"), config);
    List<TrainingMetrics.Row> rows = TrainingMetrics.read(outcome.runDir().resolve("metrics.csv"));
    assertThat(rows).hasSize(40);
    double first =
        rows.subList(0, 5).stream().mapToDouble(TrainingMetrics.Row::loss).average().orElseThrow();
    double last =
        rows.subList(35, 40).stream()
            .mapToDouble(TrainingMetrics.Row::loss)
            .average()
            .orElseThrow();
    assertThat(last)
        .as("mean loss of the last 5 steps vs the first 5 (%s)", first)
        .isLessThan(first * 0.6);
    assertThat(outcome.lastGrid()).isPresent();
    assertThat(Files.size(outcome.lastGrid().get())).isGreaterThan(100);
    assertThat(Files.list(outcome.runDir().resolve("tensorboard")).toList()).isNotEmpty();
  }

  @Test
  void theClosingLineAndTheCheckpointShowTheLossOfTheLastMetricsRow() throws Exception {
    TrainConfig everyStep = tiny(5, 0, 1e-3);
    TrainConfig everyThird =
        everyStep.withTraining(everyStep.training().toBuilder().logEvery(3).build());
    Trainer.Outcome perStep = trainer().train(temp.resolve("every-step"), everyStep);
    List<TrainingMetrics.Row> steps = TrainingMetrics.read(perStep.runDir().resolve("metrics.csv"));
    double lastTwo = (steps.get(3).loss() + steps.get(4).loss()) / 2;

    log.getBuffer().setLength(0);
    Trainer.Outcome outcome = trainer().train(temp.resolve("every-third"), everyThird);
    List<TrainingMetrics.Row> rows = TrainingMetrics.read(outcome.runDir().resolve("metrics.csv"));
    assertThat(rows).extracting(TrainingMetrics.Row::step).containsExactly(3L, 5L);
    assertThat(rows.get(1).loss()).isCloseTo(lastTwo, within(1e-5));
    assertThat(outcome.loss()).isCloseTo(lastTwo, within(1e-5));
    assertThat(outcome.lossSteps()).isEqualTo("4-5");
    assertThat(Checkpoints.resolve(outcome.runDir()).state().loss())
        .isCloseTo(lastTwo, within(1e-5));
    assertThat(log.toString())
        .contains(
            String.format(
                "done: step 5, loss %.4f (mean of steps 4-5, as in metrics.csv)",
                rows.get(1).loss()));
  }

  @Test
  void interruptedAndResumedEqualsUninterrupted() throws Exception {
    TrainConfig config = tiny(6, 3, 1e-3);
    Trainer.Outcome straight = trainer().train(temp.resolve("straight"), config);

    Path split = temp.resolve("split");
    TrainConfig firstHalf = withSteps(config, 3);
    trainer().train(split, firstHalf);
    Trainer.Outcome resumed = trainer().resume(split, Optional.of(6));
    assertThat(resumed.step()).isEqualTo(6);

    Map<String, float[]> a =
        variables(config, Checkpoints.resolve(straight.runDir()), temp.resolve("tb1"));
    Map<String, float[]> b = variables(config, Checkpoints.resolve(split), temp.resolve("tb2"));
    assertThat(b.keySet()).isEqualTo(a.keySet());
    for (String name : a.keySet()) {
      float[] x = a.get(name);
      float[] y = b.get(name);
      for (int i = 0; i < x.length; i++) {
        assertThat(y[i])
            .as("%s[%s]", name, i)
            .isCloseTo(x[i], within(1e-6f + 1e-6f * Math.abs(x[i])));
      }
    }
    // the resumed loss curve continues the same curve, without duplicated rows
    List<TrainingMetrics.Row> one = TrainingMetrics.read(straight.runDir().resolve("metrics.csv"));
    List<TrainingMetrics.Row> two = TrainingMetrics.read(split.resolve("metrics.csv"));
    assertThat(two).extracting(TrainingMetrics.Row::step).containsExactly(1L, 2L, 3L, 4L, 5L, 6L);
    // the run's clock continues across the resume instead of restarting at 0
    assertThat(two.get(3).elapsedSeconds()).isGreaterThanOrEqualTo(two.get(2).elapsedSeconds());
    for (int i = 0; i < one.size(); i++) {
      assertThat(two.get(i).loss()).isCloseTo(one.get(i).loss(), within(1e-5));
    }
  }

  /**
   * EMA decay 0: the average is the weights, so the run keeps no {@code ema/} copy (one weights'
   * worth of memory less), draws its sample grids from the weights, and loading its EMA weights
   * gives the weights.
   */
  @Test
  void emaDecayZeroKeepsNoCopyAndItsEmaWeightsAreTheWeights() throws Exception {
    TrainConfig config = tiny(3, 3, 1e-3).withEma(new TrainConfig.Ema(0, true));
    TrainConfig withEma = tiny(3, 3, 1e-3);
    int weights;
    long variables;
    long variablesWithEma;
    try (TrainingGraph a =
            new TrainingGraph(config, TrainingGraph.Options.withTensorBoard(temp.resolve("tb0")));
        TrainingGraph b =
            new TrainingGraph(
                withEma, TrainingGraph.Options.withTensorBoard(temp.resolve("tb1")))) {
      weights = a.weights.variables().size();
      variables = countVariables(a);
      variablesWithEma = countVariables(b);
      java.util.List<String> names = new java.util.ArrayList<>();
      a.graph.operations().forEachRemaining(op -> names.add(op.name()));
      assertThat(names).noneMatch(n -> n.startsWith("ema/"));
    }
    assertThat(variablesWithEma - variables).isEqualTo(weights);

    Trainer.Outcome outcome = trainer().train(temp.resolve("no-ema"), config);
    assertThat(outcome.lastGrid()).isPresent();
    Map<String, float[]> raw =
        variables(config, Checkpoints.resolve(outcome.runDir()), temp.resolve("tb2"));
    assertThat(raw.keySet()).noneMatch(n -> n.startsWith("ema/"));
    try (TrainedModel model =
        TrainedModel.load(
            outcome.runDir(), TrainedModel.Weights.EMA, SessionOptions.defaults(), m -> {})) {
      assertThat(model.which()).isEqualTo(TrainedModel.Weights.RAW);
      Session.Runner runner = model.session().runner();
      java.util.List<String> names = new java.util.ArrayList<>(model.weights().keySet());
      names.forEach(n -> runner.fetch(model.weights().get(n)));
      try (Result r = runner.run()) {
        for (int i = 0; i < names.size(); i++) {
          assertThat(TensorIO.toFloats(r.get(i))).as(names.get(i)).isEqualTo(raw.get(names.get(i)));
        }
      }
    }
  }

  private static long countVariables(TrainingGraph g) {
    long[] n = {0};
    g.graph.operations().forEachRemaining(op -> n[0] += op.type().equals("VariableV2") ? 1 : 0);
    return n[0];
  }

  private static TrainConfig withSteps(TrainConfig c, int steps) {
    return c.withTraining(c.training().withSteps(steps));
  }

  @Test
  void aCrashDuringACheckpointWriteLeavesThePreviousOneLoadable() throws Exception {
    TrainConfig config = tiny(6, 3, 1e-3);
    Path run = temp.resolve("crash");
    Trainer trainer = trainer();
    int[] writes = {0};
    trainer.beforeCheckpointRename(
        () -> {
          if (++writes[0] == 2) {
            throw new IllegalStateException("simulated crash while writing checkpoint 2");
          }
        });
    assertThatThrownBy(() -> trainer.train(run, config)).hasMessageContaining("simulated crash");
    Checkpoints checkpoints = RunDirectory.open(run).checkpoints();
    assertThat(checkpoints.list()).extracting(c -> c.state().step()).containsExactly(3L);
    // the half-written folder is hidden, and a resume cleans it up and finishes the run
    assertThat(Files.list(run.resolve("checkpoints")).map(p -> p.getFileName().toString()))
        .anyMatch(n -> n.startsWith(".tmp-ckpt-6"));
    Trainer.Outcome resumed = trainer().resume(run, Optional.empty());
    assertThat(resumed.step()).isEqualTo(6);
    assertThat(Files.list(run.resolve("checkpoints")).map(p -> p.getFileName().toString()))
        .noneMatch(n -> n.startsWith(".tmp"));
  }

  @Test
  void aNonFiniteLossStopsTheRunAndKeepsTheLastGoodCheckpoint() {
    TrainConfig config = tiny(60, 1, 1e9);
    Path run = temp.resolve("nan");
    assertThatThrownBy(() -> trainer().train(run, config))
        .isInstanceOf(Trainer.NonFiniteLossException.class)
        .hasMessageContaining("at step")
        .hasMessageContaining("last good checkpoint");
    List<Checkpoints.Checkpoint> kept = RunDirectory.open(run).checkpoints().list();
    assertThat(kept).isNotEmpty();
    // the kept checkpoint holds finite weights
    Map<String, float[]> values = variables(config, kept.get(kept.size() - 1), temp.resolve("tb"));
    values.forEach(
        (name, v) -> {
          for (float f : v) {
            assertThat(f).as(name).isFinite();
          }
        });
  }

  @Test
  void anExistingRunIsNeverOverwritten() {
    TrainConfig config = tiny(2, 0, 1e-3);
    Path run = temp.resolve("twice");
    trainer().train(run, config);
    assertThatThrownBy(() -> trainer().train(run, config))
        .hasMessageContaining("already holds a run")
        .hasMessageContaining("--resume");
    assertThatThrownBy(() -> trainer().resume(temp.resolve("nothing"), Optional.empty()))
        .hasMessageContaining("is not a run folder");
  }

  @Test
  void checkpointHoldsWeightsEmaOptimizerStateAndStep() throws Exception {
    TrainConfig config = tiny(3, 0, 1e-3);
    Path run = temp.resolve("state");
    trainer().train(run, config);
    Checkpoints.Checkpoint ckpt = Checkpoints.resolve(run);
    assertThat(ckpt.state().step()).isEqualTo(3);
    assertThat(ckpt.state().cursor()).isEqualTo(24);
    Map<String, float[]> values = variables(config, ckpt, temp.resolve("tb"));
    assertThat(values.get("global_step")).containsExactly(3f);
    // the EMA differs from the weights (it lags), and both were restored
    String w = "output_conv.weight";
    assertThat(values.get("ema/" + w)).isNotEqualTo(values.get(w));
    // the optimizer slots are in the file too
    try (TrainingGraph graph =
            new TrainingGraph(config, TrainingGraph.Options.withTensorBoard(temp.resolve("tb3")));
        Session session = new Session(graph.graph)) {
      Checkpoints.restore(session, ckpt);
      assertThat(graph.graph.operation("optimizer/v/" + w)).isNotNull();
      try (Result r =
          session.runner().fetch(graph.graph.operation("optimizer/v/" + w).output(0)).run()) {
        float[] v = TensorIO.toFloats(r.get(0));
        assertThat(v).isNotEmpty();
        double sum = 0;
        for (float f : v) {
          sum += f;
        }
        assertThat(sum).isGreaterThan(0);
      }
    }
  }

  /** Waits until the run in {@code run} has logged a step (its metrics.csv has a row). */
  private static void awaitFirstStep(Path run, Thread training) throws Exception {
    Path metrics = run.resolve("metrics.csv");
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(120);
    while (System.nanoTime() < deadline && training.isAlive()) {
      if (Files.exists(metrics) && !TrainingMetrics.read(metrics).isEmpty()) {
        return;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("no step was logged in " + run);
  }

  /**
   * Ctrl-C or SIGTERM while the final sample grid takes long: the checkpoint is saved before the
   * grid, and the stop waits for the grid only briefly.
   */
  @Test
  void aStopSavesTheCheckpointBeforeASlowFinalGrid() throws Exception {
    TrainConfig config = tiny(100_000, 0, 1e-3);
    Path run = temp.resolve("stopped");
    Trainer trainer = trainer();
    java.util.concurrent.CountDownLatch gridStarted = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch gridMayEnd = new java.util.concurrent.CountDownLatch(1);
    trainer.beforeSampleGrid(
        () -> {
          gridStarted.countDown();
          try {
            gridMayEnd.await(2, java.util.concurrent.TimeUnit.MINUTES);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        });
    java.util.concurrent.atomic.AtomicReference<Trainer.Outcome> outcome =
        new java.util.concurrent.atomic.AtomicReference<>();
    Thread training = new Thread(() -> outcome.set(trainer.train(run, config)));
    training.start();
    awaitFirstStep(run, training);

    long start = System.nanoTime();
    GracefulStop.Ending ending =
        trainer.stopAndWait(java.time.Duration.ofMinutes(1), java.time.Duration.ofMillis(300));
    double seconds = (System.nanoTime() - start) / 1e9;

    assertThat(ending).isEqualTo(GracefulStop.Ending.SAVED);
    assertThat(seconds).as("the stop waits for one step, the checkpoint and 0.3 s").isLessThan(30);
    assertThat(gridStarted.getCount()).as("the grid comes after the checkpoint").isZero();
    List<Checkpoints.Checkpoint> saved = RunDirectory.open(run).checkpoints().list();
    assertThat(saved).hasSize(1);
    assertThat(log.toString()).contains("stopped at step " + saved.get(0).state().step());
    gridMayEnd.countDown();
    training.join(60_000);
    assertThat(outcome.get().step()).isEqualTo(saved.get(0).state().step()).isLessThan(100_000);
  }

  /**
   * The stop waits for the loop, not for the training thread: that thread goes on to call
   * System.exit, which blocks while the shutdown hooks run, so waiting for it held every stop.
   */
  @Test
  void aStopEndsAsSoonAsTheLoopEndsWhateverTheTrainingThreadDoesNext() throws Exception {
    TrainConfig config = tiny(100_000, 0, 1e-3);
    Path run = temp.resolve("exit");
    Trainer trainer = trainer();
    java.util.concurrent.CountDownLatch exiting = new java.util.concurrent.CountDownLatch(1);
    Thread training =
        new Thread(
            () -> {
              trainer.train(run, config);
              try {
                exiting.await(2, java.util.concurrent.TimeUnit.MINUTES); // as System.exit blocks
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            });
    training.start();
    awaitFirstStep(run, training);

    long start = System.nanoTime();
    GracefulStop.Ending ending =
        trainer.stopAndWait(java.time.Duration.ofMinutes(2), java.time.Duration.ofMinutes(2));
    double seconds = (System.nanoTime() - start) / 1e9;

    assertThat(ending).isEqualTo(GracefulStop.Ending.FINISHED);
    assertThat(seconds).isLessThan(30);
    assertThat(training.isAlive()).isTrue();
    assertThat(RunDirectory.open(run).checkpoints().list()).hasSize(1);
    exiting.countDown();
    training.join(60_000);
  }
}
