package org.tfdiffusion.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.tensorflow.DeviceSpec;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.op.train.Restore;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;
import org.tensorflow.types.family.TType;
import org.tfdiffusion.diffusion.GaussianDiffusion;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.nn.ParameterSpec;
import org.tfdiffusion.nn.VariableParameters;
import org.tfdiffusion.optim.AdamW;
import org.tfdiffusion.run.TrainConfig;

/**
 * Synchronous data parallelism inside one training graph (in-graph replication): N replicas, one
 * per task of a TensorFlow cluster, each on its task's CPU.
 *
 * <pre>
 *   chief:      x, t, ε, y of the combined batch (t and ε drawn as one process would)  -> N shards
 *   replica i:  (loss_i, g_i) = ReplicaStep(θ_i, shard_i)                on task i's device
 *   chief:      loss = (1/N) Σ loss_i        ḡ = (1/N) Σ g_i             the gradient exchange
 *   replica i:  θ_i, m_i, v_i ← AdamW(θ_i, m_i, v_i, ḡ)                  the same update everywhere
 *   chief:      EMA, step += 1, sample grids, checkpoints
 * </pre>
 *
 * Every replica holds its own copy of the weights and of AdamW's slots, so a step moves only
 * gradients: each replica sends g_i to the chief and receives ḡ. The chief's copy is replica 0 and
 * has the names of a single-process run ({@code down_0...}, {@code optimizer/m/...}, {@code
 * ema/...}, {@code global_step}); replica i's copy is under {@code replica_i/}. Because every
 * replica applies the same ḡ with the same kernels to the same values, the copies stay identical;
 * {@link #divergence} measures it and {@link #sync} copies the chief's values to the others after
 * initialisation, restore and fine-tuning loads.
 *
 * <p>The mean of the shard losses and of their gradients equals the loss and gradient of the
 * combined batch (equal shards), so a replicated step matches a single-process step on the same
 * batch up to float rounding. With dropout, each replica draws its masks from its own seed (replica
 * 0's is the single-process seed), so dropout masks differ from a single-process run.
 */
public final class Replication {
  /** The prefix of the variables of replica i > 0. */
  static final String REPLICA_SCOPE = "replica_";

  final Operand<TFloat32> loss;
  private final TrainingGraph graph;
  private final List<DeviceSpec> devices;

  /** Replica i's scope (device and name scope); index 0 is the chief's. */
  private final List<Ops> scopes = new ArrayList<>();

  /** Replica i's weights by name; index 0 is the chief's (the graph's own weights). */
  private final List<Map<String, Variable<TFloat32>>> weights = new ArrayList<>();

  /** AdamW of replica i > 0 (index 0 is unused: the chief's is the graph's). */
  private final List<AdamW> optimizers = new ArrayList<>();

  private Op sync;
  private Operand<TFloat32> divergence;
  private Operand<TFloat32> exchangeProbe;
  private Placeholder<TString> checkpointPrefix;
  private Op save;
  private Op restore;

  /**
   * Builds the replicas' forward and backward passes and the gradient average.
   *
   * @param vars receives the chief's trainable weights
   * @param grads receives the averaged gradients, keyed like {@code vars}
   */
  Replication(
      TrainingGraph graph,
      TrainConfig config,
      Ops root,
      List<DeviceSpec> devices,
      Map<String, Variable<TFloat32>> vars,
      Map<String, Operand<TFloat32>> grads) {
    this.graph = graph;
    this.devices = List.copyOf(devices);
    int n = devices.size();
    TrainConfig.Training training = config.training();
    DistributedTraining.check(config, n);
    int shardSize = training.batchSize() / n;
    Ops tf = graph.tf;

    // the draws of the combined batch, as a single process makes them, split into N shards
    GaussianDiffusion.Draws draws =
        new GaussianDiffusion(tf, config.noiseSchedule()).trainingDraws(graph.images, graph.seed);
    Optional<Operand<TInt32>> labels =
        graph.labels.map(
            l -> graph.dropLabels(l, config.conditioning().pUncond(), config.model().numClasses()));
    List<Operand<TFloat32>> images = split(tf, graph.images, n);
    List<Operand<TInt32>> t = split(tf, draws.t(), n);
    List<Operand<TFloat32>> noise = split(tf, draws.noise(), n);
    Optional<List<Operand<TInt32>>> y = labels.map(l -> split(tf, l, n));

    List<Operand<TFloat32>> losses = new ArrayList<>();
    Map<String, List<Operand<TFloat32>>> replicaGrads = new LinkedHashMap<>();
    try (ReplicaStep step =
        ReplicaStep.build(config, graph.unet, shardSize, name -> !config.fineTune().frozen(name))) {
      // the chief's weights are created in the order the model reads them, as in this process
      step.specs().forEach(graph.weights::get);
      for (int i = 0; i < n; i++) {
        Ops scope = i == 0 ? tf : root.withDevice(devices.get(i)).withSubScope(REPLICA_SCOPE + i);
        scopes.add(scope);
        Map<String, Variable<TFloat32>> w;
        if (i == 0) {
          w = graph.weights.variables();
        } else {
          VariableParameters copy = new VariableParameters(scope, training.seed());
          for (ParameterSpec spec : step.specs()) {
            copy.get(spec);
          }
          w = copy.variables();
        }
        weights.add(w);
        final int replica = i;
        Optional<Operand<TInt64>> dropoutSeed =
            config.model().dropout() > 0
                ? Optional.of(
                    tf.math.add(
                        graph.seed,
                        tf.constant(new long[] {TrainingGraph.DROPOUT_SEED_OFFSET + replica, 0L})))
                : Optional.empty();
        ReplicaStep.Output out =
            step.call(
                i == 0 ? tf.withSubScope(REPLICA_SCOPE + 0) : scope,
                w,
                new ReplicaStep.Shard(
                    images.get(i),
                    t.get(i),
                    noise.get(i),
                    y.map(l -> l.get(replica)),
                    dropoutSeed));
        losses.add(out.loss());
        out.gradients()
            .forEach(
                (name, g) -> replicaGrads.computeIfAbsent(name, k -> new ArrayList<>()).add(g));
      }
      for (String name : step.trainable()) {
        vars.put(name, graph.weights.variables().get(name));
      }
    }
    // the gradient exchange: every g_i travels to the chief, ḡ travels back to every replica
    Operand<TFloat32> inverse = tf.constant(1f / n);
    Ops average = tf.withSubScope("average");
    this.loss = average.math.mul(average.math.addN(losses), inverse);
    replicaGrads.forEach(
        (name, list) -> grads.put(name, average.math.mul(average.math.addN(list), inverse)));
  }

  /**
   * Every replica but the chief applies {@code gradients} to its own weights with its own AdamW
   * (same configuration, same step), on its own device.
   *
   * @return the update ops
   */
  List<Op> update(
      TrainConfig config,
      Map<String, Operand<TFloat32>> gradients,
      Operand<TFloat32> learningRate,
      Operand<TInt64> nextStep) {
    List<Op> ops = new ArrayList<>();
    optimizers.add(null);
    for (int i = 1; i < devices.size(); i++) {
      AdamW adam = new AdamW(scopes.get(i), config.optimizer().adamW());
      optimizers.add(adam);
      Map<String, Variable<TFloat32>> trainable = new LinkedHashMap<>();
      for (String name : gradients.keySet()) {
        trainable.put(name, weights.get(i).get(name));
      }
      ops.add(adam.update(trainable, gradients, learningRate, nextStep).op());
    }
    return ops;
  }

  /**
   * Adds the ops that need every variable: copying the chief's values to the replicas, measuring
   * how far they differ, the exchange probe, and the chief's checkpoint save and restore.
   */
  void finish(Map<String, Variable<TFloat32>> accumulators) {
    Ops tf = graph.tf;
    Map<String, Variable<TFloat32>> chiefWeights = weights.get(0);
    List<Op> copies = new ArrayList<>();
    List<Operand<TFloat32>> differences = new ArrayList<>();
    for (int i = 1; i < devices.size(); i++) {
      Ops replica = scopes.get(i).withSubScope("sync");
      List<Operand<TFloat32>> maxima = new ArrayList<>();
      for (Map.Entry<String, Variable<TFloat32>> w : weights.get(i).entrySet()) {
        Variable<TFloat32> source = chiefWeights.get(w.getKey());
        copies.add(replica.assign(w.getValue(), source));
        // measured on the chief: replica i's weights travel to the chief
        maxima.add(
            tf.reduceMax(
                tf.math.abs(tf.math.sub(w.getValue(), source)), allAxes(tf, source.shape())));
      }
      AdamW adam = optimizers.get(i);
      adam.firstMoments()
          .forEach(
              (name, m) -> copies.add(replica.assign(m, graph.adamw.firstMoments().get(name))));
      adam.secondMoments()
          .forEach(
              (name, v) -> copies.add(replica.assign(v, graph.adamw.secondMoments().get(name))));
      differences.add(tf.reduceMax(tf.stack(maxima), tf.constant(0)));
    }
    this.sync = tf.withSubScope("sync_replicas").withControlDependencies(copies).noOp();
    this.divergence =
        differences.isEmpty()
            ? tf.zeros(tf.constant(new int[] {0}), TFloat32.class)
            : tf.stack(differences);

    // the exchange probe moves what a step moves (g_i to the chief, ḡ back), with the replicas'
    // weights standing in for their gradients: same shapes, same bytes, no forward pass
    Ops probe = tf.withSubScope("exchange_probe");
    Operand<TFloat32> inverse = probe.constant(1f / devices.size());
    List<Operand<TFloat32>> received = new ArrayList<>();
    List<List<Operand<TFloat32>>> sums = new ArrayList<>();
    List<Ops> probes = new ArrayList<>();
    for (int i = 1; i < devices.size(); i++) {
      sums.add(new ArrayList<>());
      probes.add(scopes.get(i).withSubScope("exchange_probe"));
    }
    for (String name : graph.adamw.firstMoments().keySet()) {
      List<Operand<TFloat32>> copiesOfName = new ArrayList<>();
      for (Map<String, Variable<TFloat32>> w : weights) {
        copiesOfName.add(w.get(name));
      }
      Operand<TFloat32> mean = probe.math.mul(probe.math.addN(copiesOfName), inverse);
      received.add(probe.reduceSum(mean, allAxes(probe, mean.shape())));
      for (int i = 1; i < devices.size(); i++) {
        Ops replica = probes.get(i - 1);
        sums.get(i - 1).add(replica.reduceSum(mean, allAxes(replica, mean.shape())));
      }
    }
    for (int i = 1; i < devices.size(); i++) {
      received.add(probes.get(i - 1).math.addN(sums.get(i - 1)));
    }
    this.exchangeProbe = probe.math.addN(received);

    // the chief's variables under a single-process run's names
    Map<String, Variable<?>> saved = new LinkedHashMap<>();
    chiefWeights.values().forEach(v -> saved.put(v.op().name(), v));
    graph.ema.shadows().values().forEach(v -> saved.put(v.op().name(), v));
    graph.adamw.firstMoments().values().forEach(v -> saved.put(v.op().name(), v));
    graph.adamw.secondMoments().values().forEach(v -> saved.put(v.op().name(), v));
    accumulators.values().forEach(v -> saved.put(v.op().name(), v));
    saved.put(graph.step.op().name(), graph.step);
    Ops saver = tf.withSubScope("chief_saver");
    this.checkpointPrefix =
        saver.withName("prefix").placeholder(TString.class, Placeholder.shape(Shape.scalar()));
    Operand<TString> names =
        saver.constant(StdArrays.ndCopyOf(saved.keySet().toArray(new String[0])));
    Operand<TString> slices = saver.zerosLike(names);
    List<Operand<?>> values = new ArrayList<>(saved.values());
    this.save =
        saver
            .withControlDependencies(
                List.of(saver.train.save(checkpointPrefix, names, slices, values)))
            .noOp();
    List<Class<? extends TType>> types = new ArrayList<>();
    values.forEach(v -> types.add(v.type()));
    Restore restored = saver.train.restore(checkpointPrefix, names, slices, types);
    List<Op> assigns = new ArrayList<>();
    for (int i = 0; i < values.size(); i++) {
      assigns.add(assign(saver, values.get(i), restored.tensors().get(i)));
    }
    this.restore = saver.withControlDependencies(assigns).noOp();
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static Op assign(Ops tf, Operand variable, Operand value) {
    return tf.assign(variable, value);
  }

  /** Copies the chief's weights and optimizer slots to every other replica. */
  void sync(Session session) {
    session.runner().addTarget(sync).run().close();
  }

  /**
   * max |θ_i − θ_chief| over all weights, for each replica i > 0 (0 when the copies are identical).
   */
  float[] divergence(Session session) {
    try (Result r = session.runner().fetch(divergence).run()) {
      return TensorIO.toFloats(r.get(0));
    }
  }

  /** Runs one exchange of gradient-sized tensors between the chief and every replica. */
  public void probeExchange(Session session) {
    session.runner().fetch(exchangeProbe).run().close();
  }

  /** The number of replicas. */
  int size() {
    return devices.size();
  }

  void save(Session session, String prefix) {
    try (TString p = TString.scalarOf(prefix)) {
      session.runner().feed(checkpointPrefix, p).addTarget(save).run().close();
    }
  }

  void restore(Session session, String prefix) {
    // every variable gets a value first (also those a restore does not cover); then the
    // checkpoint's
    session.initialize();
    try (TString p = TString.scalarOf(prefix)) {
      session.runner().feed(checkpointPrefix, p).addTarget(restore).run().close();
    }
    sync(session);
  }

  private static <T extends org.tensorflow.types.family.TType> List<Operand<T>> split(
      Ops tf, Operand<T> value, int n) {
    List<Operand<T>> out = new ArrayList<>();
    if (n == 1) {
      out.add(value);
      return out;
    }
    tf.split(tf.constant(0), value, (long) n).output().forEach(out::add);
    return out;
  }

  private static Operand<TInt32> allAxes(Ops tf, Shape shape) {
    int[] axes = new int[shape.numDimensions()];
    for (int i = 0; i < axes.length; i++) {
      axes[i] = i;
    }
    return tf.constant(axes);
  }
}
