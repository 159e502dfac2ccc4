package org.tfdiffusion.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.proto.ConfigProto;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.train.cluster.ClusterProbe;
import org.tfdiffusion.train.cluster.ClusterSpec;
import org.tfdiffusion.train.cluster.RemoteSession;
import org.tfdiffusion.train.cluster.TaskServer;

/**
 * Synchronous data-parallel training on TensorFlow's distributed runtime: one process per task of a
 * {@link ClusterSpec}, each running a TensorFlow server ({@link TaskServer}).
 *
 * <p>The chief (task 0) builds the one training graph with a replica of the step per task (see
 * {@link Replication}), opens a gRPC session on its own server ({@link RemoteSession}), reads the
 * data, runs the loop of {@link Trainer} and writes the checkpoints, sample grids and logs. The
 * other tasks only serve: their server runs their replica's part of each step, and their process
 * exits once the chief has gone.
 *
 * <p>Bounded failures: the chief first waits at most {@code connectTimeout} for every task to
 * listen ({@link ClusterProbe}), naming the ones that do not; every call to the cluster after that
 * (session creation, a step, a sample grid, a checkpoint) is bounded by {@code stepTimeout} through
 * {@code ConfigProto.operation_timeout_in_ms}. A task that dies makes the next step fail at once
 * (its connection is refused); one that hangs makes it fail after {@code stepTimeout}. Either way
 * the chief stops with an error naming the task where TensorFlow names it, and keeps its last
 * checkpoint; restarting every task with {@code --resume} continues from it.
 *
 * @param cluster the cluster and this process's task
 * @param connectTimeout how long the chief waits for every task to start
 * @param stepTimeout how long any one call to the cluster may take
 */
public record DistributedTraining(
    ClusterSpec cluster, Duration connectTimeout, Duration stepTimeout) {
  /** The default of {@code --connect-timeout}. */
  public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(60);

  /** The default of {@code --step-timeout}: generous for a first step that compiles with XLA. */
  public static final Duration DEFAULT_STEP_TIMEOUT = Duration.ofSeconds(300);

  /** How long a worker waits after the chief stops answering before it exits. */
  public static final Duration CHIEF_GONE_GRACE = Duration.ofSeconds(10);

  /** How long closing the chief's session may take before the chief stops waiting for it. */
  public static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);

  /** How much of TensorFlow's message an error quotes. */
  private static final int MESSAGE_CHARS = 200;

  private static final Pattern FROM = Pattern.compile("From /job:\\S*:");

  private static final Pattern TASK = Pattern.compile("/job:(\\w+)/replica:0/task:(\\d+)");

  public DistributedTraining {
    checkArgument(cluster != null, "no cluster");
    checkArgument(
        connectTimeout != null && !connectTimeout.isNegative() && !connectTimeout.isZero(),
        "--connect-timeout must be > 0 seconds");
    checkArgument(
        stepTimeout != null && !stepTimeout.isNegative() && !stepTimeout.isZero(),
        "--step-timeout must be > 0 seconds");
  }

  /** With the default timeouts. */
  public static DistributedTraining of(ClusterSpec cluster) {
    return new DistributedTraining(cluster, DEFAULT_CONNECT_TIMEOUT, DEFAULT_STEP_TIMEOUT);
  }

  /**
   * Checks that {@code config} can train on this cluster, before anything starts.
   *
   * @throws IllegalArgumentException naming the setting and the fix
   */
  public void check(TrainConfig config) {
    check(config, cluster.size());
  }

  /** {@link #check(TrainConfig)} for {@code n} tasks. */
  static void check(TrainConfig config, int n) {
    TrainConfig.Training t = config.training();
    checkArgument(
        t.accumulation() == 1,
        "--accumulation %s is not supported with a cluster: the %s tasks already split each batch;"
            + " raise --batch-size instead",
        t.accumulation(),
        n);
    checkArgument(
        t.batchSize() % n == 0,
        "--batch-size %s is not divisible by the %s tasks of the cluster: each task trains on an"
            + " equal share; use a multiple of %s",
        t.batchSize(),
        n,
        n);
  }

  /** A worker's whole life: starts its server and serves until the chief has gone. */
  public void serve(PrintWriter out) {
    checkArgument(!cluster.isChief(), "the chief trains; only the other tasks serve");
    TaskServer.start(cluster).serve(out, CHIEF_GONE_GRACE);
  }

  /**
   * The chief's start: its own server, then every other task listening.
   *
   * @throws IllegalStateException if the server cannot start or a task does not listen in time
   */
  public void startChief(PrintWriter out) {
    checkArgument(cluster.isChief(), "only the chief (task 0) drives training");
    TaskServer.start(cluster);
    out.printf(
        "chief %s of %d tasks: waiting up to %d s for %s%n",
        cluster.task().describe(),
        cluster.size(),
        connectTimeout.toSeconds(),
        cluster.size() == 1 ? "nothing" : "the other tasks");
    out.flush();
    ClusterProbe.awaitAll(cluster.tasks().subList(1, cluster.size()), connectTimeout);
  }

  /**
   * The gRPC target of the chief's own server as seen from the chief. It is the loopback address
   * rather than the name TensorFlow registers the server under ({@code grpc://localhost:port}), so
   * that calls go through gRPC and honour the timeouts (see {@link RemoteSession}).
   */
  public String target() {
    return "grpc://127.0.0.1:" + cluster.chief().port();
  }

  /** The chief's session on the cluster, with its state isolated and every call bounded. */
  public Session open(Graph graph, ConfigProto config) {
    ConfigProto bounded =
        config.toBuilder()
            .setIsolateSessionState(true)
            .setOperationTimeoutInMs(stepTimeout.toMillis())
            .build();
    return RemoteSession.open(graph, target(), bounded);
  }

  /**
   * Closes the chief's session, waiting at most {@link #CLOSE_TIMEOUT}. After a task has died,
   * TensorFlow's close waits for that task without a deadline (measured: still waiting after 45 s
   * with a 300 s step timeout), which would hide the error behind a hang; the session is then left
   * to the exiting process.
   *
   * @return whether the session closed in time
   */
  static boolean close(Session session) {
    Thread closer = new Thread(session::close, "tfdiffusion-close-session");
    closer.setDaemon(true);
    closer.start();
    try {
      closer.join(CLOSE_TIMEOUT.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return !closer.isAlive();
  }

  /**
   * A clear error for a failed call to the cluster.
   *
   * @param during what the chief was doing, e.g. "step 12"
   * @param checkpoint where the last checkpoint is, or "no checkpoint yet"
   */
  public IllegalStateException explain(TensorFlowException e, String during, String checkpoint) {
    String message = e.getMessage() == null ? e.toString() : e.getMessage();
    // what TensorFlow says, without its "From /job:...:" prefixes and rules of '=': for example
    // "UNAVAILABLE: From /job:worker/replica:0/task:1:" + "Connection reset by peer"
    List<String> lines =
        message
            .lines()
            .map(l -> FROM.matcher(l).replaceAll("").trim())
            .filter(l -> l.chars().anyMatch(Character::isLetter))
            .limit(2)
            .toList();
    String first = lines.isEmpty() ? e.getClass().getSimpleName() : lines.get(0);
    if (first.endsWith(":") && lines.size() > 1) {
      first = first + " " + lines.get(1);
    }
    if (first.length() > MESSAGE_CHARS) {
      first = first.substring(0, MESSAGE_CHARS) + "...";
    }
    Matcher m = TASK.matcher(message);
    String who = "a task";
    if (m.find()) {
      int index = Integer.parseInt(m.group(2));
      who =
          cluster.tasks().stream()
              .filter(t -> t.job().equals(m.group(1)) && t.index() == index)
              .findFirst()
              .map(ClusterSpec.Task::describe)
              .orElse("/job:" + m.group(1) + "/task:" + index);
    }
    String what =
        first.toLowerCase(java.util.Locale.ROOT).contains("deadline")
            ? String.format(
                "%s did not finish within %d s (--step-timeout): %s hung, died or is"
                    + " unreachable, or the call needs more time (a long sample grid or a first"
                    + " step that compiles with XLA: raise --step-timeout)",
                during, stepTimeout.toSeconds(), who)
            : String.format("%s failed: %s is unreachable or failed (%s)", during, who, first);
    return new IllegalStateException(
        what
            + ". Training stopped; "
            + checkpoint
            + (checkpoint.startsWith("no ")
                ? ". Restart every task and train again."
                : ". Restart every task and continue with --resume --run-dir RUN on the chief."),
        e);
  }
}
