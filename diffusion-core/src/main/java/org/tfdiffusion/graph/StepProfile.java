package org.tfdiffusion.graph;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;

/**
 * Where the time of one {@code Session.run} goes, per op type, from TensorFlow's step stats (a full
 * trace). Op times overlap when ops run in parallel, so the shares are of the summed op time, not
 * of the wall time.
 *
 * @param wallMicros the wall time of the traced run
 * @param rows op types by descending total time
 * @param nodes executed nodes by descending time
 */
public record StepProfile(long wallMicros, List<Row> rows, List<Node> nodes) {
  /** One op type: how many ops ran and their summed time. */
  public record Row(String opType, int count, long micros) {}

  /** One executed node: its name, op type, time and first two inputs (name and shape). */
  public record Node(String name, String opType, long micros, String inputs) {}

  /** Runs {@code runner} once with a full trace and aggregates its step stats. */
  public static StepProfile trace(Session session, Session.Runner runner) {
    RunOptions options =
        RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE).build();
    long start = System.nanoTime();
    RunMetadata metadata;
    try (Result r = runner.setOptions(options).runAndFetchMetadata()) {
      metadata = r.getMetadata().orElseThrow(() -> new IllegalStateException("no run metadata"));
    }
    long wall = (System.nanoTime() - start) / 1000;
    Graph graph = session.graph();
    Map<String, long[]> byType = new HashMap<>();
    List<Node> nodes = new ArrayList<>();
    for (DeviceStepStats device : metadata.getStepStats().getDevStatsList()) {
      for (NodeExecStats node : device.getNodeStatsList()) {
        String name = node.getNodeName();
        GraphOperation op =
            graph.operation(name.contains(":") ? name.substring(0, name.indexOf(':')) : name);
        String type = op != null ? op.type() : typeFromLabel(node.getTimelineLabel(), name);
        StringBuilder inputs = new StringBuilder();
        if (op != null) {
          for (int i = 0; i < Math.min(op.numInputs(), 2); i++) {
            inputs
                .append(i == 0 ? "" : ", ")
                .append(op.input(i).op().name())
                .append(op.input(i).shape());
          }
        }
        nodes.add(new Node(name, type, node.getAllEndRelMicros(), inputs.toString()));
        long[] acc = byType.computeIfAbsent(type, k -> new long[2]);
        acc[0]++;
        acc[1] += node.getAllEndRelMicros();
      }
    }
    List<Row> rows = new ArrayList<>();
    byType.forEach((type, acc) -> rows.add(new Row(type, (int) acc[0], acc[1])));
    rows.sort(Comparator.comparingLong(Row::micros).reversed());
    nodes.sort(Comparator.comparingLong(Node::micros).reversed());
    return new StepProfile(wall, List.copyOf(rows), List.copyOf(nodes));
  }

  /**
   * Runs the initializers of {@code session}'s graph once with a full trace (they run again if the
   * session ran them before): shows which ops compute the initial values at run time, and that
   * TensorFlow did not fold them into constants (see {@link Unfolded}).
   */
  public static StepProfile traceInitializers(Session session) {
    Graph graph = session.graph();
    Session.Runner runner = session.runner();
    graph
        .operations()
        .forEachRemaining(
            op -> {
              if (graph.isInitializer(op)) {
                runner.addTarget(op);
              }
            });
    return trace(session, runner);
  }

  private static String typeFromLabel(String label, String fallback) {
    // "name = Type(args)" for ops inside functions and rewritten nodes
    int eq = label.indexOf(" = ");
    int paren = label.indexOf('(', eq + 3);
    return eq >= 0 && paren > eq ? label.substring(eq + 3, paren) : fallback;
  }

  /** The summed op time. */
  public long totalMicros() {
    return rows.stream().mapToLong(Row::micros).sum();
  }

  /** A table of the {@code top} op types. */
  public String format(int top) {
    StringBuilder s = new StringBuilder();
    long total = Math.max(1, totalMicros());
    s.append(String.format("wall %.3f s, summed op time %.3f s%n", wallMicros / 1e6, total / 1e6));
    s.append(String.format("%-36s %7s %10s %7s%n", "op type", "count", "ms", "share"));
    rows.stream()
        .limit(top)
        .forEach(
            r ->
                s.append(
                    String.format(
                        "%-36s %7d %10.1f %6.1f%%%n",
                        r.opType(), r.count(), r.micros() / 1e3, 100.0 * r.micros() / total)));
    s.append(String.format("%nslowest nodes:%n"));
    nodes.stream()
        .limit(top)
        .forEach(
            n ->
                s.append(
                    String.format(
                        "%10.1f ms  %-24s %s  <- %s%n",
                        n.micros() / 1e3, n.opType(), n.name(), n.inputs())));
    return s.toString();
  }
}
