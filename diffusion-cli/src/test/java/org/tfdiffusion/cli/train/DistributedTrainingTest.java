package org.tfdiffusion.cli.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.DeviceSpec;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.core.Variable;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.train.DistributedTraining;
import org.tfdiffusion.train.Trainer;
import org.tfdiffusion.train.TrainerTest;
import org.tfdiffusion.train.TrainingGraph;
import org.tfdiffusion.train.TrainingMetrics;
import org.tfdiffusion.train.bench.ChildJvm;
import org.tfdiffusion.train.bench.ClusterBenchmark;
import org.tfdiffusion.train.cluster.ClusterSpec;

/**
 * Data-parallel training on loopback clusters of separate JVMs (the train command in each), checked
 * against single-process training in this JVM.
 */
class DistributedTrainingTest {
  @TempDir Path temp;

  private final List<Process> processes = new ArrayList<>();

  /** A tiny unconditional model without dropout, on the embedded data, batch 8 (4 per task). */
  private static final List<String> TINY =
      List.of(
          "--image-size",
          "28",
          "--channels",
          "1",
          "--base-width",
          "8",
          "--levels",
          "2",
          "--batch-size",
          "8",
          "--seed",
          "3",
          "--no-conditional",
          "--dropout",
          "0",
          "--no-cosine",
          "--no-xla",
          "--progress",
          "lines",
          "--log-every",
          "1",
          "--sample-count",
          "1",
          "--sampler",
          "ddim",
          "--sampler-steps",
          "2");

  @AfterEach
  void stopProcesses() {
    processes.forEach(Process::destroyForcibly);
  }

  /**
   * A tiny unconditional model without dropout, batch 8 (4 per task), AdamW at lr 1e-2.
   *
   * <p>Two channels per group norm (4 groups of width 8), not one: with one channel per group, the
   * bias of the convolution before each norm has a true gradient of exactly zero, and AdamW turns
   * the rounding noise that stands in for it into ±lr steps (m̂ / √v̂ = ±1), so two correct
   * computations that sum in different orders differ by up to 2·lr per step on those biases
   * (measured with the demo's 8 groups: 3.1e-5 after 4 steps at lr 4e-5..1.6e-4). Every weight of
   * this model has a real gradient.
   */
  static TrainConfig parityConfig(int steps) {
    return new TrainConfig(
        TrainConfig.FORMAT,
        UNetConfig.builder().imageSize(28).channels(1).baseWidth(8).levels(2).normGroups(4).build(),
        TrainConfig.Schedule.tutorial(),
        Prediction.EPSILON,
        TrainConfig.Data.embedded(),
        new TrainConfig.Optimizer(1e-2, 0.9, 0.999, 1e-8, 0.01, 1.0, 0, false, 0),
        new TrainConfig.Ema(0.9, true),
        new TrainConfig.Training(steps, 8, 1, 3, 1, 2, 3, 0, 1, SamplerKind.DDIM, 2),
        TrainConfig.Conditioning.none(),
        TrainConfig.FineTune.none(),
        "test");
  }

  /** The steps of the parity run, after the restart. */
  private static final int STEPS = 6;

  /**
   * Two worker processes train; worker 1 is killed after the checkpoint of step 2, and the chief
   * stops at once with an error naming it; a restarted cluster (new processes, new ports) resumes
   * from the chief's last checkpoint to step 6. The replicas are identical at every checkpoint, and
   * the result equals single-process training on the combined batch.
   */
  @Test
  void twoWorkersTrainAsOneProcessSurviveADeadWorkerAndResume() throws Exception {
    Path run = temp.resolve("run");
    Path configFile = temp.resolve("config.json");
    RunDirectory.json().writeValue(configFile.toFile(), parityConfig(1_000_000));
    Path chiefDir = Files.createDirectories(temp.resolve("chief"));
    Path workerDir = Files.createDirectories(temp.resolve("worker"));
    String cluster = loopbackCluster(2);
    Process worker =
        java(workerDir, "worker-1.log", TrainCommand.class, "--cluster", cluster, "--task", "1");
    Process chief =
        java(
            chiefDir,
            "chief-1.log",
            ClusterChief.class,
            configFile.toString(),
            run.toString(),
            cluster);
    Path log = chiefDir.resolve("chief-1.log");
    String identical = "2 replicas, max |weight - chief's| per task [0.0] (identical)";
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
    while (!Files.readString(log).contains("step 2: " + identical)) {
      assertThat(chief.isAlive()).as(Files.readString(log)).isTrue();
      assertThat(System.nanoTime()).as("the chief reaches step 2").isLessThan(deadline);
      Thread.sleep(100);
    }
    worker.destroyForcibly().waitFor();
    long killed = System.nanoTime();
    assertThat(chief.waitFor(60, TimeUnit.SECONDS)).as("the chief exits").isTrue();
    double seconds = (System.nanoTime() - killed) / 1e9;
    String first = Files.readString(log);
    assertThat(chief.exitValue()).as(first).isEqualTo(2);
    assertThat(first).contains("cluster: 2 tasks, 4 images each per step");
    String task1 = ClusterSpec.parse(cluster, 1).task().describe();
    String error =
        first.lines().filter(l -> l.startsWith("error:")).findFirst().orElse("(no error line)");
    System.out.printf("dead worker: the chief exited %.1f s after the kill: %s%n", seconds, error);
    assertThat(error)
        .containsPattern("error: step \\d+ failed: " + Pattern.quote(task1) + " is unreachable")
        .contains("the last checkpoint is " + run.resolve("checkpoints"))
        .contains("--resume --run-dir");
    // a refused connection fails the step at once, far within the 300 s step timeout
    assertThat(seconds).isLessThan(40);

    // a restarted cluster (new processes, new ports) resumes from the chief's checkpoint
    String cluster2 = loopbackCluster(2);
    Process worker2 =
        java(workerDir, "worker-2.log", TrainCommand.class, "--cluster", cluster2, "--task", "1");
    Process chief2 =
        java(
            chiefDir,
            "chief-2.log",
            TrainCommand.class,
            "--cluster",
            cluster2,
            "--task",
            "0",
            "--resume",
            "--run-dir",
            run.toString(),
            "--steps",
            String.valueOf(STEPS),
            "--no-xla",
            "--progress",
            "lines");
    String second = finish(chief2, chiefDir.resolve("chief-2.log"));
    assertThat(second).containsPattern("from checkpoint .*ckpt-00000[24] \\(step [24]\\)");
    assertThat(second).contains("step " + STEPS + ": " + identical);
    // the worker serves and writes nothing: checkpoints, logs and samples are the chief's
    worker2.destroyForcibly().waitFor();
    try (Stream<Path> files = Files.list(workerDir)) {
      assertThat(files.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("worker-1.log", "worker-2.log");
    }

    // the same steps in this process on the combined batch of 8
    TrainConfig config = parityConfig(STEPS);
    Trainer.Outcome single = quietTrainer().train(temp.resolve("single"), config);
    List<Map<String, float[]>> read =
        variables(
            config,
            Checkpoints.resolve(single.runDir()),
            Checkpoints.resolve(run),
            Checkpoints.resolve(run.resolve("checkpoints/ckpt-000002")));
    Map<String, float[]> expected = read.get(0);
    Map<String, float[]> actual = read.get(1);
    Map<String, float[]> atStep2 = read.get(2);
    assertThat(actual.keySet()).isEqualTo(expected.keySet());
    double maxDifference = 0;
    double maxMove = 0;
    List<String> off = new ArrayList<>();
    for (String name : expected.keySet()) {
      float[] x = expected.get(name);
      float[] y = actual.get(name);
      for (int i = 0; i < x.length; i++) {
        double d = Math.abs(x[i] - y[i]);
        maxDifference = Math.max(maxDifference, d);
        maxMove = Math.max(maxMove, Math.abs(x[i] - atStep2.get(name)[i]));
        if (d > 1e-5 && off.size() < 20) {
          off.add(name + "[" + i + "] " + x[i] + " vs " + y[i]);
        }
      }
    }
    System.out.printf(
        "distributed vs single process after %d steps: max |difference| %.3g over weights, EMA"
            + " and AdamW slots; weights moved up to %.3g after step 2%n",
        STEPS, maxDifference, maxMove);
    assertThat(off).as("variables more than 1e-5 from single-process training").isEmpty();
    // the weights moved far beyond the tolerance: the comparison is not between two starts
    assertThat(maxMove).isGreaterThan(1e-2);

    List<TrainingMetrics.Row> a = TrainingMetrics.read(single.runDir().resolve("metrics.csv"));
    List<TrainingMetrics.Row> b = TrainingMetrics.read(run.resolve("metrics.csv"));
    assertThat(b).hasSize(STEPS);
    for (int i = 0; i < STEPS; i++) {
      assertThat(b.get(i).loss())
          .as("loss of step %s", i + 1)
          .isCloseTo(a.get(i).loss(), within(1e-5));
    }
  }

  /**
   * Every variable of each checkpoint (weights, EMA, AdamW slots) by name, restored by a
   * single-process training graph: the cluster's checkpoints load where a single run's do.
   */
  private List<Map<String, float[]>> variables(
      TrainConfig config, Checkpoints.Checkpoint... checkpoints) {
    List<Map<String, float[]>> out = new ArrayList<>();
    try (TrainingGraph graph = new TrainingGraph(config, TrainingGraph.Options.stepOnly())) {
      Map<String, Variable<TFloat32>> all = new LinkedHashMap<>();
      graph.weights.variables().forEach(all::put);
      graph.ema.shadows().forEach((k, v) -> all.put("ema/" + k, v));
      graph.adamw.firstMoments().forEach((k, v) -> all.put("m/" + k, v));
      graph.adamw.secondMoments().forEach((k, v) -> all.put("v/" + k, v));
      for (Checkpoints.Checkpoint checkpoint : checkpoints) {
        try (Session session = new Session(graph.graph)) {
          Checkpoints.restore(session, checkpoint);
          Session.Runner runner = session.runner();
          all.values().forEach(runner::fetch);
          Map<String, float[]> values = new LinkedHashMap<>();
          try (Result r = runner.run()) {
            int i = 0;
            for (String name : all.keySet()) {
              values.put(name, TensorIO.toFloats(r.get(i++)));
            }
          }
          out.add(values);
        }
      }
    }
    return out;
  }

  private static Trainer quietTrainer() {
    return new Trainer(
        new PrintWriter(new StringWriter()), Trainer.Progress.QUIET, SessionOptions.defaults());
  }

  @Test
  void aWorkerThatNeverStartsIsNamedWithinTheConnectTimeout() throws Exception {
    String cluster = loopbackCluster(2);
    long start = System.nanoTime();
    Process chief =
        train(
            temp,
            "chief.log",
            concat(
                TINY,
                "--cluster",
                cluster,
                "--task",
                "0",
                "--run-dir",
                temp.resolve("run").toString(),
                "--steps",
                "2",
                "--connect-timeout",
                "3"));
    assertThat(chief.waitFor(60, TimeUnit.SECONDS)).as("the chief exits").isTrue();
    double seconds = (System.nanoTime() - start) / 1e9;
    String log = Files.readString(temp.resolve("chief.log"));
    assertThat(chief.exitValue()).as(log).isEqualTo(2);
    String worker = ClusterSpec.parse(cluster, 1).task().describe();
    System.out.printf(
        "missing worker: exit %d after %.1f s: %s%n",
        chief.exitValue(),
        seconds,
        log.lines().filter(l -> l.startsWith("error:")).findFirst().orElse("(no error line)"));
    assertThat(log).contains("error: " + worker + " did not start within 3 s (--connect-timeout)");
    // 3 s of waiting plus the start of a JVM and of TensorFlow
    assertThat(seconds).isLessThan(30);
  }

  @Test
  void settingsAClusterCannotRunAreRefusedBeforeAnythingStarts() {
    DistributedTraining three = DistributedTraining.of(ClusterSpec.parse("worker=a:1,b:2,c:3", 0));
    TrainConfig config = parityConfig(1); // batch 8
    assertThatThrownBy(() -> three.check(config))
        .hasMessageContaining("--batch-size 8 is not divisible by the 3 tasks")
        .hasMessageContaining("use a multiple of 3");
    TrainConfig accumulated =
        config.withTraining(
            config.training().toBuilder().steps(1).batch(8, 2).checkpointEvery(0).build());
    assertThatThrownBy(
            () -> DistributedTraining.of(ClusterSpec.parse("worker=a:1,b:2", 0)).check(accumulated))
        .hasMessageContaining("--accumulation 2 is not supported with a cluster")
        .hasMessageContaining("raise --batch-size");
    // the command line, without starting a server
    assertThat(trainCommand("--cluster", "worker=a:1,b:2")).contains("--cluster needs --task");
    assertThat(trainCommand("--task", "1")).contains("--task needs --cluster");
    assertThat(trainCommand("--step-timeout", "5")).contains("need --cluster");
    assertThat(
            trainCommand(
                "--cluster", "worker=127.0.0.1:1,127.0.0.1:2", "--task", "0", "--batch-size", "7"))
        .contains("--batch-size 7 is not divisible by the 2 tasks");
    assertThat(trainCommand("--cluster", "worker=a:1,b:2", "--task", "2"))
        .contains("--task 2 is out of range");
  }

  @Test
  void clusterErrorsNameTheTaskTheCauseAndWhatToDo() {
    DistributedTraining cluster =
        DistributedTraining.of(ClusterSpec.parse("worker=h0:2222,h1:2222", 0));
    // as TensorFlow 2.18 words a worker that died during a step
    String died =
        cluster
            .explain(
                new org.tensorflow.exceptions.TensorFlowException(
                    "UNAVAILABLE: From /job:worker/replica:0/task:1:\nConnection reset by peer\n"
                        + "Additional GRPC error information from remote target"
                        + " /job:worker/replica:0/task:1 while calling"
                        + " /tensorflow.WorkerService/RunGraph:\n:{\"grpc_status\":14}"),
                "step 7",
                "the last checkpoint is runs/x/checkpoints/ckpt-000006 (step 6)")
            .getMessage();
    assertThat(died)
        .startsWith(
            "step 7 failed: /job:worker/task:1 (h1:2222) is unreachable or failed (UNAVAILABLE:"
                + " Connection reset by peer)")
        .contains("the last checkpoint is runs/x/checkpoints/ckpt-000006 (step 6)")
        .endsWith("continue with --resume --run-dir RUN on the chief.");
    String hung =
        cluster
            .explain(
                new org.tensorflow.exceptions.TensorFlowException("Deadline Exceeded"),
                "initialising the variables",
                "no checkpoint was written")
            .getMessage();
    assertThat(hung)
        .startsWith("initialising the variables did not finish within 300 s (--step-timeout)")
        .contains("a task hung, died or is unreachable")
        .endsWith("no checkpoint was written. Restart every task and train again.");
  }

  /** The error output of the train command (which must fail with status 2). */
  private static String trainCommand(String... args) {
    StringWriter err = new StringWriter();
    picocli.CommandLine cli = TrainCommand.commandLine(new TrainCommand());
    cli.setErr(new PrintWriter(err, true));
    cli.setOut(new PrintWriter(new StringWriter(), true));
    assertThat(cli.execute(args)).as(err.toString()).isEqualTo(2);
    return err.toString();
  }

  @Test
  void eachReplicaRunsItsPassOnItsOwnTask() {
    ClusterSpec cluster = ClusterSpec.parse("worker=a:1,b:2", 0);
    TrainConfig config = TrainerTest.tiny(1, 0, 1e-3);
    List<DeviceSpec> devices = cluster.devices();
    try (TrainingGraph graph =
        new TrainingGraph(config, TrainingGraph.Options.stepOnly().replicas(devices))) {
      GraphDef def = graph.graph.toGraphDef();
      String task0 = devices.get(0).toString();
      String task1 = devices.get(1).toString();
      int calls = 0;
      int replicaVariables = 0;
      int replicaUpdates = 0;
      for (NodeDef node : def.getNodeList()) {
        String name = node.getName();
        // the C API adds gradient ops without a device: none may be in the graph itself
        assertThat(name).as("gradient op outside the replica function").doesNotContain("Gradients");
        if (node.getOp().equals("PartitionedCall")) {
          calls++;
          assertThat(node.getDevice()).isEqualTo(name.startsWith("replica_1/") ? task1 : task0);
        }
        if (name.startsWith("replica_1/")) {
          assertThat(node.getDevice()).as(name).isEqualTo(task1);
          replicaVariables += node.getOp().equals("VariableV2") ? 1 : 0;
          replicaUpdates += node.getOp().equals("ApplyAdam") ? 1 : 0;
        } else if (!node.getDevice().isEmpty()) {
          assertThat(node.getDevice()).as(name).isEqualTo(task0);
        }
      }
      int weights = graph.weights.variables().size();
      assertThat(calls).isEqualTo(2);
      // replica 1's weights and AdamW slots, and an update per weight, all on task 1
      assertThat(replicaVariables).isEqualTo(3 * weights);
      assertThat(replicaUpdates).isEqualTo(weights);
      // the replica function's body has no device of its own, so it runs where it is called
      assertThat(def.getLibrary().getFunctionList()).isNotEmpty();
      def.getLibrary()
          .getFunctionList()
          .forEach(f -> f.getNodeDefList().forEach(n -> assertThat(n.getDevice()).isEmpty()));
    }
  }

  // --- processes ---

  private static String loopbackCluster(int tasks) throws IOException {
    return ClusterBenchmark.loopbackCluster(tasks);
  }

  /** Starts the train command in a new JVM with this test's class path. */
  private Process train(Path dir, String logName, List<String> args) throws IOException {
    return java(dir, logName, TrainCommand.class, args.toArray(new String[0]));
  }

  /** Runs {@code main} in a new JVM with this test's class path, output to {@code dir/logName}. */
  private Process java(Path dir, String logName, Class<?> main, String... args) throws IOException {
    String classPath = System.getProperty("surefire.test.class.path");
    if (classPath == null || classPath.isBlank()) {
      classPath = System.getProperty("java.class.path");
    }
    List<String> command = new ArrayList<>(ChildJvm.command(main, classPath));
    command.addAll(List.of(args));
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .directory(dir.toFile())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve(logName).toFile());
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    pb.environment().remove(ClusterSpec.TF_CONFIG);
    Process p = pb.start();
    processes.add(p);
    return p;
  }

  private Process train(Path dir, String logName, String... args) throws IOException {
    return train(dir, logName, List.of(args));
  }

  /** Waits for a chief that should succeed and returns its output. */
  private static String finish(Process chief, Path log) throws Exception {
    assertThat(chief.waitFor(240, TimeUnit.SECONDS)).as("the chief finishes").isTrue();
    String out = Files.readString(log);
    assertThat(chief.exitValue()).as(out).isZero();
    return out;
  }

  private static List<String> concat(List<String> base, String... more) {
    List<String> all = new ArrayList<>(base);
    all.addAll(List.of(more));
    return all;
  }
}
