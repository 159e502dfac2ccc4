package org.tfdiffusion.train.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunOptions;
import org.tensorflow.proto.StepStats;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.train.DistributedTraining;
import org.tfdiffusion.train.Replication;
import org.tfdiffusion.train.TrainingGraph;
import org.tfdiffusion.train.cluster.ClusterSpec;

/**
 * Images per second of the real training step (forward, backward, gradient exchange, AdamW, EMA) in
 * one process and on loopback clusters of 1, 2, ... worker processes, and the time one gradient
 * exchange takes.
 *
 * <p>Each configuration runs in fresh JVMs: the chief measures, the other tasks serve. The exchange
 * is timed on its own with {@link Replication}'s probe, which moves what a step moves (every
 * replica's gradient-sized tensors to the chief, their mean back to every replica, summed there so
 * that nothing can be pruned), minus the time of an empty call to the cluster. A traced step counts
 * the ops each task ran, which shows where the work happened.
 */
public final class ClusterBenchmark {
  /** The line a chief prints its result on. */
  static final String RESULT_MARK = "CLUSTER_BENCH_RESULT ";

  private static final int PROBE_RUNS = 5;

  private ClusterBenchmark() {}

  /**
   * One measured configuration.
   *
   * @param tasks the cluster's tasks; 0 for one process without the distributed runtime
   * @param batch images per step, over all tasks
   * @param stepSeconds median seconds of a training step
   * @param imagesPerSecond batch / stepSeconds
   * @param exchangeSeconds median seconds of one gradient exchange (0 without a cluster)
   * @param callSeconds median seconds of an empty call to the session (subtracted from the
   *     exchange)
   * @param exchangeMebibytes what one step moves between tasks: 2 (tasks - 1) gradients
   * @param opsPerTask the ops each task (or device) ran in one traced step
   */
  public record Measurement(
      int tasks,
      int batch,
      String session,
      double stepSeconds,
      double imagesPerSecond,
      double exchangeSeconds,
      double callSeconds,
      double exchangeMebibytes,
      Map<String, Integer> opsPerTask) {}

  /** Measures here: in this process ({@code cluster} empty) or as the chief of a cluster. */
  public static Measurement measure(
      TrainConfig config,
      Optional<DistributedTraining> cluster,
      SessionOptions options,
      int steps) {
    int batch = config.training().batchSize();
    cluster.ifPresent(c -> c.startChief(new PrintWriter(System.err, true)));
    try (TrainingGraph graph =
            new TrainingGraph(
                config,
                TrainingGraph.Options.stepOnly()
                    .replicas(cluster.map(c -> c.cluster().devices()).orElse(List.of())));
        Session session =
            cluster.isPresent()
                ? cluster.get().open(graph.graph, options.toConfigProto())
                : new Session(graph.graph, options.toConfigProto())) {
      graph.initialize(session);
      Map<String, Integer> ops = new TreeMap<>();
      double[] seconds =
          TrainStepBenchmark.time(
              graph,
              session,
              config,
              steps,
              runner -> {
                runner.setOptions(
                    RunOptions.newBuilder()
                        .setTraceLevel(RunOptions.TraceLevel.FULL_TRACE)
                        .build());
                try (Result r = runner.runAndFetchMetadata()) {
                  r.getMetadata().ifPresent(m -> count(m.getStepStats(), ops));
                }
              });
      double step = median(seconds);
      double exchange = 0;
      double call = 0;
      if (graph.replication.isPresent()) {
        double[] probes = new double[PROBE_RUNS];
        double[] calls = new double[PROBE_RUNS];
        for (int i = -1; i < PROBE_RUNS; i++) {
          long start = System.nanoTime();
          graph.replication.get().probeExchange(session);
          long middle = System.nanoTime();
          session.runner().fetch(graph.step).run().close();
          if (i >= 0) {
            probes[i] = (middle - start) / 1e9;
            calls[i] = (System.nanoTime() - middle) / 1e9;
          }
        }
        call = median(calls);
        exchange = Math.max(0, median(probes) - call);
      }
      long parameters = 0;
      for (var v : graph.adamw.firstMoments().values()) {
        parameters += v.shape().size();
      }
      int tasks = cluster.map(c -> c.cluster().size()).orElse(0);
      double mebibytes =
          tasks < 2 ? 0 : 2.0 * (tasks - 1) * parameters * Float.BYTES / (1024.0 * 1024.0);
      return new Measurement(
          tasks, batch, options.describe(), step, batch / step, exchange, call, mebibytes, ops);
    }
  }

  /** Node executions per device, with the device shortened to its task. */
  private static void count(StepStats stats, Map<String, Integer> ops) {
    stats
        .getDevStatsList()
        .forEach(
            d -> {
              String device = d.getDevice();
              int task = device.indexOf("/task:");
              String key =
                  task >= 0
                      ? device.substring(device.indexOf("/job:"), device.indexOf('/', task + 1))
                      : device;
              int n = 0;
              for (NodeExecStats node : d.getNodeStatsList()) {
                if (!node.getNodeName().equals("_SOURCE")) {
                  n++;
                }
              }
              ops.merge(key.isEmpty() ? device : key, n, Integer::sum);
            });
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  /**
   * Measures {@code config} in one process and on loopback clusters of each size in {@code tasks},
   * each in fresh JVMs with this JVM's class path, and prints a table.
   *
   * @param workerMain the main class of the worker tasks (the {@code train} command, which serves a
   *     task of {@code --cluster} given {@code --task})
   * @param local also measure one process without the distributed runtime
   */
  public static List<Measurement> compare(
      Class<?> workerMain,
      TrainConfig config,
      List<Integer> tasks,
      boolean local,
      boolean xla,
      int steps,
      PrintWriter out)
      throws IOException, InterruptedException {
    Path dir = Files.createTempDirectory("tfdiffusion-bench-cluster");
    Path configFile = dir.resolve("config.json");
    RunDirectory.json().writeValue(configFile.toFile(), config);
    List<Measurement> results = new ArrayList<>();
    List<Integer> sizes = new ArrayList<>();
    if (local) {
      sizes.add(0);
    }
    sizes.addAll(tasks);
    for (int n : sizes) {
      List<Process> workers = new ArrayList<>();
      try {
        String cluster = n == 0 ? "local" : loopbackCluster(n);
        for (int i = 1; i < n; i++) {
          workers.add(
              start(workerMain, "--cluster", cluster, "--task", String.valueOf(i))
                  .redirectOutput(dir.resolve("worker-" + n + "-" + i + ".log").toFile())
                  .start());
        }
        Process chief =
            start(
                    ClusterBenchmark.class,
                    configFile.toString(),
                    cluster,
                    String.valueOf(steps),
                    String.valueOf(xla))
                .start();
        Measurement m = readResult(chief, n);
        results.add(m);
        out.printf(
            "%-16s %.3f s per step, %.1f img/s, exchange %.3f s (%.1f MiB), ops per task %s%n",
            n == 0 ? "1 process:" : n + (n == 1 ? " task:" : " tasks:"),
            m.stepSeconds(),
            m.imagesPerSecond(),
            m.exchangeSeconds(),
            m.exchangeMebibytes(),
            m.opsPerTask());
        out.flush();
      } finally {
        workers.forEach(Process::destroyForcibly);
        for (Process w : workers) {
          w.waitFor();
        }
      }
    }
    out.printf("%n%s", markdown(results));
    return results;
  }

  private static ProcessBuilder start(Class<?> main, String... args) {
    List<String> command = new ArrayList<>(ChildJvm.command(main));
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().putIfAbsent("TF_CPP_MIN_LOG_LEVEL", "2");
    SessionOptions.XLA_ENVIRONMENT.forEach(pb.environment()::putIfAbsent);
    pb.environment().remove(ClusterSpec.TF_CONFIG);
    return pb;
  }

  private static Measurement readResult(Process chief, int n)
      throws IOException, InterruptedException {
    Measurement result = null;
    StringBuilder all = new StringBuilder();
    try (BufferedReader r =
        new BufferedReader(new InputStreamReader(chief.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        if (line.startsWith(RESULT_MARK)) {
          result =
              new ObjectMapper().readValue(line.substring(RESULT_MARK.length()), Measurement.class);
        } else {
          all.append(line).append('\n');
        }
      }
    }
    if (chief.waitFor() != 0 || result == null) {
      throw new IllegalStateException(
          "the measurement with " + n + " tasks failed:\n" + all.toString().strip());
    }
    return result;
  }

  /** {@code worker=127.0.0.1:p0,...} with ports free now. */
  public static String loopbackCluster(int tasks) throws IOException {
    List<String> addresses = new ArrayList<>();
    List<ServerSocket> held = new ArrayList<>();
    try {
      for (int i = 0; i < tasks; i++) {
        ServerSocket s = new ServerSocket(0);
        held.add(s);
        addresses.add("127.0.0.1:" + s.getLocalPort());
      }
    } finally {
      for (ServerSocket s : held) {
        s.close();
      }
    }
    return ClusterSpec.WORKER + "=" + String.join(",", addresses);
  }

  /** The results as a Markdown table. */
  static String markdown(List<Measurement> results) {
    StringBuilder s = new StringBuilder();
    s.append("| processes | batch | s/step | img/s | gradient exchange s/step | MiB moved |")
        .append(" share of step | ops per task (one step) |\n")
        .append("|---|---|---|---|---|---|---|---|\n");
    for (Measurement m : results) {
      s.append(
          String.format(
              "| %s | %d | %.3f | %.1f | %.3f | %.1f | %.0f%% | %s |%n",
              m.tasks() == 0 ? "1 (no cluster)" : m.tasks() + " (cluster)",
              m.batch(),
              m.stepSeconds(),
              m.imagesPerSecond(),
              m.exchangeSeconds(),
              m.exchangeMebibytes(),
              100 * m.exchangeSeconds() / m.stepSeconds(),
              m.opsPerTask()));
    }
    return s.toString();
  }

  /**
   * The chief of one measurement: arguments are the config file, the {@code --cluster} value
   * ({@code local} for one process without a cluster), the timed steps and whether to use XLA.
   */
  public static void main(String[] args) throws Exception {
    TrainConfig config =
        RunDirectory.json().readValue(Path.of(args[0]).toFile(), TrainConfig.class);
    Optional<DistributedTraining> cluster =
        args[1].equals("local")
            ? Optional.empty()
            : Optional.of(DistributedTraining.of(ClusterSpec.parse(args[1], 0)));
    int steps = Integer.parseInt(args[2]);
    SessionOptions options = SessionOptions.defaults().withXla(Boolean.parseBoolean(args[3]));
    Measurement m = measure(config, cluster, options, steps);
    System.out.println(RESULT_MARK + new ObjectMapper().writeValueAsString(m));
    System.out.flush();
    System.exit(0);
  }
}
