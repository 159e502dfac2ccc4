package org.tfdiffusion.train;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.ExportedModel;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;

/**
 * Starts a run from a parent run's weights: every weight whose name and shape match is loaded (into
 * the weight and its EMA shadow), the others (a new or larger label table, new layers) keep their
 * fresh initialisation. The optimizer starts afresh.
 */
public final class FineTuning {
  /** Weight-name prefixes of the named parts of the U-Net. */
  public static final java.util.Map<String, java.util.List<String>> PARTS =
      java.util.Map.of(
          "down", java.util.List.of("input_conv", "input_block", "down_"),
          "mid", java.util.List.of("mid"),
          "up", java.util.List.of("up_", "output_block", "output_conv"),
          "time", java.util.List.of("time_embed"),
          "labels", java.util.List.of("label_embed"));

  private FineTuning() {}

  /** What was loaded, what was initialised and what of the parent was not used. */
  record Report(List<String> loaded, List<String> initialized, List<String> unused) {}

  /** The parent's weights by name: their values and shapes, in the parent's order. */
  public record ParentWeights(Map<String, float[]> values, Map<String, Shape> shapes) {}

  /** Reads the parent's weights (its EMA or raw ones, as {@code fineTune} says). */
  public static ParentWeights read(TrainConfig.FineTune fineTune) {
    TrainedModel.Weights which = fineTune.weights();
    Map<String, float[]> values = new LinkedHashMap<>();
    Map<String, Shape> shapes = new LinkedHashMap<>();
    try (TrainedModel parent = openParent(fineTune, which)) {
      Session.Runner runner = parent.session().runner();
      List<String> names = new ArrayList<>(parent.weights().keySet());
      names.forEach(n -> runner.fetch(parent.weights().get(n)));
      try (Result r = runner.run()) {
        for (int i = 0; i < names.size(); i++) {
          values.put(names.get(i), org.tfdiffusion.graph.TensorIO.toFloats(r.get(i)));
          shapes.put(names.get(i), r.get(i).shape());
        }
      }
    }
    return new ParentWeights(values, shapes);
  }

  /** Loads the parent's weights into a freshly initialised training session. */
  public static Report load(TrainingGraph graph, Session session, TrainConfig.FineTune fineTune) {
    ParentWeights parent = read(fineTune);
    Map<String, float[]> values = parent.values();
    Map<String, Shape> shapes = parent.shapes();
    Ops tf = graph.tf.withSubScope("fine_tune");
    List<String> loaded = new ArrayList<>();
    List<String> initialized = new ArrayList<>();
    Map<Placeholder<TFloat32>, float[]> feeds = new LinkedHashMap<>();
    List<Op> assigns = new ArrayList<>();
    for (Map.Entry<String, Variable<TFloat32>> e : graph.weights.variables().entrySet()) {
      String name = e.getKey();
      Shape shape = e.getValue().shape();
      if (shape.equals(shapes.get(name))) {
        Placeholder<TFloat32> value = tf.placeholder(TFloat32.class, Placeholder.shape(shape));
        feeds.put(value, values.get(name));
        assigns.add(tf.assign(e.getValue(), value));
        if (graph.ema.keepsShadows()) {
          assigns.add(tf.assign(graph.ema.shadows().get(name), value));
        }
        loaded.add(name);
      } else {
        initialized.add(
            name
                + " "
                + shape
                + (shapes.containsKey(name) ? " (parent: " + shapes.get(name) + ")" : " (new)"));
      }
    }
    List<String> unused = new ArrayList<>();
    shapes.keySet().stream()
        .filter(n -> !graph.weights.variables().containsKey(n))
        .forEach(unused::add);
    Session.Runner runner = session.runner();
    List<AutoCloseable> tensors = new ArrayList<>();
    try {
      for (Map.Entry<Placeholder<TFloat32>, float[]> f : feeds.entrySet()) {
        TFloat32 t = org.tfdiffusion.graph.TensorIO.floats(f.getKey().shape(), f.getValue());
        tensors.add(t);
        runner.feed(f.getKey(), t);
      }
      assigns.forEach(runner::addTarget);
      runner.run().close();
    } finally {
      for (AutoCloseable t : tensors) {
        try {
          t.close();
        } catch (Exception ignored) {
          // closing a tensor does not fail
        }
      }
    }
    return new Report(loaded, initialized, unused);
  }

  /**
   * The parent's weights: the checkpoint of the recorded step in a parent run, or a parent export.
   */
  private static TrainedModel openParent(
      TrainConfig.FineTune fineTune, TrainedModel.Weights which) {
    Path parent = Path.of(fineTune.parentRun());
    if (ExportedModel.isExport(parent)) {
      return TrainedModel.loadExport(
          ExportedModel.open(parent), SessionOptions.defaults(), m -> {});
    }
    Path checkpoint =
        Checkpoints.of(parent).list().stream()
            .filter(c -> c.state().step() == fineTune.parentStep())
            .map(Checkpoints.Checkpoint::dir)
            .findFirst()
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        String.format(
                            "the parent's checkpoint of step %d is no longer in %s; fine-tune"
                                + " again from one that is (finetune --from %s)",
                            fineTune.parentStep(), parent, parent)));
    return TrainedModel.load(checkpoint, which, SessionOptions.defaults(), m -> {});
  }

  static void print(PrintWriter out, TrainConfig.FineTune fineTune, Report report, int frozen) {
    out.printf(
        "  fine-tuning from %s (step %d, %s weights): loaded %d weights, initialised %d, parent's"
            + " unused %d; frozen %d%n",
        fineTune.parentRun(),
        fineTune.parentStep(),
        fineTune.weights().configName(),
        report.loaded().size(),
        report.initialized().size(),
        report.unused().size(),
        frozen);
    report.initialized().forEach(n -> out.println("    initialised: " + n));
    report.unused().forEach(n -> out.println("    not used:    " + n));
  }
}
