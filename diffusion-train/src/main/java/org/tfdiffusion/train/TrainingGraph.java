package org.tfdiffusion.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.tensorflow.DeviceSpec;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.diffusion.Denoiser;
import org.tfdiffusion.diffusion.GaussianDiffusion;
import org.tfdiffusion.distillation.ProgressiveDistillation;
import org.tfdiffusion.graph.Unfolded;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.nn.BoundParameters;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.nn.VariableParameters;
import org.tfdiffusion.optim.AdamW;
import org.tfdiffusion.optim.ExponentialMovingAverage;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.sampling.ClassifierFreeGuidance;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;

/**
 * The graph of a training run: the U-Net on variables, the DDPM loss with stateless randomness,
 * gradients, AdamW with clipping, the EMA of the weights, an optional gradient accumulator, the
 * compiled sampling loop on the EMA weights for sample grids, and the TensorBoard writer.
 *
 * <pre>
 *   one optimizer step:  loss = p_losses(model, x_0, t ~ U[0, T), ε ~ N(0, I) from seed)
 *                        g = ∇loss;  AdamW(g, lr);  EMA ← EMA + (1 - d)(θ - EMA);  step += 1
 *   with accumulation k: k × (acc += ∇loss), then AdamW(acc / k) ... and acc = 0
 * </pre>
 *
 * Variables: the weights under their names, {@code optimizer/m|v/...}, {@code ema/...}, {@code
 * accumulator/...} and {@code global_step}; all of them go into checkpoints.
 */
public final class TrainingGraph implements AutoCloseable {
  /** Offsets the first seed word of dropout so its stream differs from t and ε. */
  static final long DROPOUT_SEED_OFFSET = 0x632BE59BD9B4E019L;

  /** Offsets the first seed word of label dropout (the null label for p_uncond). */
  private static final long LABEL_SEED_OFFSET = 0x2545F4914F6CDD1DL;

  public final Graph graph;
  final Ops tf;
  final UNet unet;
  public final Placeholder<TFloat32> images;
  public final Optional<Placeholder<TInt32>> labels;
  public final Placeholder<TInt64> seed;
  public final Placeholder<TFloat32> learningRate;
  public final Variable<TInt64> step;
  public final VariableParameters weights;
  public final ExponentialMovingAverage ema;
  public final AdamW adamw;
  public final Operand<TFloat32> loss;

  /** The optimizer step (with accumulation: applies the accumulated gradients). */
  public final Op update;

  /** With accumulation: adds this micro-batch's gradients to the accumulators. */
  final Optional<Op> accumulate;

  final Operand<TFloat32> gradientNorm;
  final Placeholder<TInt64> sampleSeeds;
  final Optional<Placeholder<TInt32>> sampleLabels;

  /** Guidance scales of the sample grid, float32 [B] (conditional models). */
  final Optional<Placeholder<TFloat32>> sampleGuidance;

  /** The labels the model trained on this step, after label dropout (for tests). */
  public Operand<TInt32> droppedLabels;

  /** A distillation round's loss and its parts (for tests); null for other runs. */
  public ProgressiveDistillation.Loss distillationLoss;

  final Operand<TFloat32> samples;
  final TensorBoardWriter tensorBoard;

  /** The number of replicas of the step (1 in this process). */
  final int replicas;

  /** The replicas of a data-parallel step; empty when the graph runs in this process. */
  public final Optional<Replication> replication;

  private final boolean nativeConvolutions;

  /**
   * What a training graph builds besides the step, and where it runs.
   *
   * @param tensorBoardDir where event files go; empty builds neither the TensorBoard writer nor the
   *     sampling loop (for benchmarks and tests of the training step alone)
   * @param replicaDevices empty: the whole graph runs in this process. Otherwise one device per
   *     replica of a data-parallel step, the chief's first: the chief holds the variables, the
   *     placeholders, the averaging, the EMA, the sampling loop and the TensorBoard writer; each
   *     replica runs the forward and backward pass of its rows of the batch and applies the
   *     averaged gradients to its own copy of the weights (see {@link Replication})
   * @param nativeConvolutions the forward and backward pass's k×k convolutions as oneDNN's ops
   *     ({@link org.tfdiffusion.nn.NativeConv}; in this process only: a data-parallel step keeps
   *     TensorFlow's)
   */
  public record Options(
      Optional<Path> tensorBoardDir, List<DeviceSpec> replicaDevices, boolean nativeConvolutions) {
    public Options {
      replicaDevices = List.copyOf(replicaDevices);
    }

    /** The step alone, in this process, with TensorFlow's convolutions. */
    public static Options stepOnly() {
      return new Options(Optional.empty(), List.of(), false);
    }

    /** The step, the TensorBoard writer and the sampling loop, in this process. */
    public static Options withTensorBoard(Path tensorBoardDir) {
      return new Options(Optional.of(tensorBoardDir), List.of(), false);
    }

    /** These options with a data-parallel step over these devices (empty: this process). */
    public Options replicas(List<DeviceSpec> devices) {
      return new Options(tensorBoardDir, devices, nativeConvolutions);
    }

    /** These options with oneDNN's convolutions on or off. */
    public Options nativeConvolutions(boolean on) {
      return new Options(tensorBoardDir, replicaDevices, on);
    }
  }

  public TrainingGraph(TrainConfig config, Options options) {
    Optional<Path> tensorBoardDir = options.tensorBoardDir();
    List<DeviceSpec> replicaDevices = options.replicaDevices();
    boolean nativeConvolutions = options.nativeConvolutions();
    checkArgument(
        !config.distillation().active() || replicaDevices.isEmpty(),
        "a distillation round trains in one process; run it without --cluster");
    checkArgument(
        !nativeConvolutions || replicaDevices.isEmpty(),
        "native convolutions run in one process only; a data-parallel step uses TensorFlow's");
    this.nativeConvolutions = nativeConvolutions;
    this.graph = new Graph();
    Ops root = Ops.create(graph);
    this.tf = replicaDevices.isEmpty() ? root : root.withDevice(replicaDevices.get(0));
    this.replicas = Math.max(1, replicaDevices.size());
    UNetConfig model = config.model();
    this.unet = new UNet(model);
    int size = model.imageSize();
    Shape batch = Shape.of(-1, size, size, model.channels());
    Ops in = tf.withSubScope("inputs");
    this.images = in.withName("images").placeholder(TFloat32.class, Placeholder.shape(batch));
    this.labels =
        model.conditional()
            ? Optional.of(
                in.withName("labels").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1))))
            : Optional.empty();
    this.seed = in.withName("seed").placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
    this.learningRate =
        in.withName("learning_rate").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
    this.step = tf.withName("global_step").variable(tf.withInitScope().constant(0L));

    this.weights = new VariableParameters(tf, config.training().seed());
    // frozen weights (fine-tuning) get no gradient and no update
    Map<String, Variable<TFloat32>> vars = new LinkedHashMap<>();
    Map<String, Operand<TFloat32>> grads = new LinkedHashMap<>();
    if (replicaDevices.isEmpty()) {
      this.replication = Optional.empty();
      this.loss = localLossAndGradients(config, vars, grads);
    } else {
      this.replication =
          Optional.of(new Replication(this, config, root, replicaDevices, vars, grads));
      this.loss = replication.get().loss;
    }
    List<String> names = new ArrayList<>(vars.keySet());

    int accumulation = config.training().accumulation();
    Map<String, Operand<TFloat32>> applied = grads;
    Map<String, Variable<TFloat32>> accumulators = new LinkedHashMap<>();
    if (accumulation > 1) {
      Ops acc = tf.withSubScope("accumulator");
      Operand<TFloat64> zero = Unfolded.zero(acc.withInitScope());
      List<Op> adds = new ArrayList<>();
      applied = new LinkedHashMap<>();
      Operand<TFloat32> inverse = tf.constant(1f / accumulation);
      for (String name : names) {
        Variable<TFloat32> sum =
            acc.withName(name)
                .variable(Unfolded.zeros(acc.withInitScope(), vars.get(name).shape(), zero));
        accumulators.put(name, sum);
        adds.add(tf.assignAdd(sum, grads.get(name)));
        applied.put(name, tf.math.mul(sum, inverse));
      }
      this.accumulate = Optional.of(tf.withControlDependencies(adds).noOp());
    } else {
      this.accumulate = Optional.empty();
    }

    // AdamW on the (averaged) gradients, then the EMA of the moved weights, then step += 1 and
    // the accumulators back to zero: each stage waits for the one before.
    Operand<TInt64> nextStep = tf.math.add(step, tf.constant(1L));
    this.adamw = new AdamW(tf, config.optimizer().adamW(), nativeConvolutions);
    AdamW.Update adam = adamw.update(vars, applied, learningRate, nextStep);
    this.gradientNorm = adam.gradientNorm();
    this.ema =
        config.ema().isPowerFunction()
            ? ExponentialMovingAverage.power(tf, config.ema().power())
            : new ExponentialMovingAverage(tf, config.ema().decay(), config.ema().warmup());
    if (ema.keepsShadows()) {
      weights.initialValues().forEach(ema::track);
    }
    Op emaUpdate = ema.update(weights.variables(), nextStep, List.of(adam.op()));
    List<Op> updated = new ArrayList<>(List.of(adam.op(), emaUpdate));
    if (replication.isPresent()) {
      // every other replica applies the same averaged gradients to its own copy
      updated.addAll(replication.get().update(config, applied, learningRate, nextStep));
    }
    Ops after = tf.withControlDependencies(updated);
    List<Op> finish = new ArrayList<>();
    finish.add(after.assignAdd(step, after.constant(1L)));
    accumulators.values().forEach(sum -> finish.add(after.assign(sum, after.zerosLike(sum))));
    this.update = tf.withControlDependencies(finish).noOp();
    replication.ifPresent(r -> r.finish(accumulators));

    if (tensorBoardDir.isEmpty()) {
      this.sampleSeeds = null;
      this.sampleLabels = Optional.empty();
      this.sampleGuidance = Optional.empty();
      this.samples = null;
      this.tensorBoard = null;
      return;
    }
    // sample grids from the EMA weights, in one While op
    SamplingPlan plan = config.gridSampler().plan(config.noiseSchedule(), config.predictionType());
    this.sampleSeeds =
        in.withName("sample_seeds").placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
    List<Operand<?>> conditioning = new ArrayList<>();
    if (model.conditional()) {
      Placeholder<TInt32> l =
          in.withName("sample_labels").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
      Placeholder<TFloat32> w =
          in.withName("sample_guidance")
              .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1)));
      this.sampleLabels = Optional.of(l);
      this.sampleGuidance = Optional.of(w);
      conditioning.add(l);
      conditioning.add(w);
    } else {
      this.sampleLabels = Optional.empty();
      this.sampleGuidance = Optional.empty();
    }
    SamplingLoop.Model net = unet.samplingNetwork(NetScope::inference);
    SamplingLoop.Outputs sampled =
        SamplingLoop.compiled(
            tf,
            plan,
            Shape.of(size, size, model.channels()),
            net,
            ema.averages(weights.variables()),
            sampleSeeds,
            conditioning,
            0);
    this.samples = SamplingLoop.toUnitRange(tf, sampled.samples());
    this.tensorBoard =
        new TensorBoardWriter(tf, tensorBoardDir.get(), TrainingMetrics.SCALARS, model.channels());
  }

  /**
   * The loss of the whole batch in this process and the gradients of the trainable weights (frozen
   * weights, when fine-tuning, get none), which are put into {@code vars} and {@code grads}.
   */
  private Operand<TFloat32> localLossAndGradients(
      TrainConfig config,
      Map<String, Variable<TFloat32>> vars,
      Map<String, Operand<TFloat32>> grads) {
    UNetConfig model = config.model();
    NetScope plainScope =
        model.dropout() > 0
            ? NetScope.training(
                tf, weights, tf.math.add(seed, tf.constant(new long[] {DROPOUT_SEED_OFFSET, 0L})))
            : NetScope.inference(tf, weights);
    NetScope scope = plainScope.withNativeConvolutions(nativeConvolutions);
    // classifier-free guidance training: each label becomes the null label with probability p
    Optional<Operand<TInt32>> modelLabels =
        labels.map(l -> dropLabels(l, config.conditioning().pUncond(), model.numClasses()));
    Operand<TFloat32> value;
    if (config.distillation().active()) {
      this.distillationLoss =
          ProgressiveDistillation.loss(
              tf,
              ProgressiveDistillation.grid(config.noiseSchedule(), config.distillation().steps()),
              teacher(config, modelLabels),
              config.predictionType(),
              (xt, t) -> unet.apply(scope, xt, t, modelLabels),
              config.predictionType(),
              images,
              seed);
      value = distillationLoss.value();
    } else {
      GaussianDiffusion diffusion = new GaussianDiffusion(tf, config.noiseSchedule());
      value =
          diffusion
              .trainingLoss(
                  (xt, t) -> unet.apply(scope, xt, t, modelLabels),
                  config.predictionType(),
                  config.loss(),
                  images,
                  seed)
              .value();
    }
    weights
        .variables()
        .forEach(
            (name, v) -> {
              if (!config.fineTune().frozen(name)) {
                vars.put(name, v);
              }
            });
    if (vars.isEmpty()) {
      throw new IllegalArgumentException(
          "every weight is frozen (--freeze " + config.fineTune().frozen() + "): nothing to train");
    }
    Gradients gradients = tf.gradients(value, vars.values());
    List<String> names = new ArrayList<>(vars.keySet());
    for (int i = 0; i < names.size(); i++) {
      grads.put(names.get(i), gradients.<TFloat32>dy(i));
    }
    return value;
  }

  /**
   * The distillation round's teacher: the parent's weights as graph constants (frozen, and not in
   * the checkpoints: a resume reads them from the parent again), guided at the round's teacher
   * guidance w when the model is conditional and w is not 1,
   *
   * <pre>
   *   teacher(z, t, y) = f(z, t, ∅) + w · (f(z, t, y) - f(z, t, ∅))      (one batch [z; z])
   * </pre>
   *
   * (a row whose label was dropped to ∅ gets the unconditional prediction either way).
   */
  private Denoiser teacher(TrainConfig config, Optional<Operand<TInt32>> modelLabels) {
    FineTuning.ParentWeights parent = FineTuning.read(config.fineTune());
    Ops constants = tf.withSubScope("teacher");
    Map<String, Operand<TFloat32>> bound = new LinkedHashMap<>();
    parent
        .values()
        .forEach(
            (name, values) ->
                bound.put(
                    name,
                    constants.constant(
                        parent.shapes().get(name),
                        org.tensorflow.ndarray.buffer.DataBuffers.of(values, true, false))));
    NetScope teacherScope =
        NetScope.inference(tf.withSubScope("teacher_net"), new BoundParameters(bound));
    double w = config.distillation().teacherGuidance();
    if (modelLabels.isEmpty() || w == 1) {
      return (z, t) -> unet.apply(teacherScope, z, t, modelLabels);
    }
    int nullLabel = config.model().numClasses();
    Operand<TInt32> labels = modelLabels.get();
    return (z, t) -> {
      Operand<TInt32> zero = tf.constant(0);
      Operand<TFloat32> out =
          unet.apply(
              teacherScope,
              tf.concat(List.of(z, z), zero),
              tf.concat(List.of(t, t), zero),
              Optional.of(
                  tf.concat(
                      List.of(labels, tf.fill(tf.shape(labels), tf.constant(nullLabel))), zero)));
      List<org.tensorflow.Output<TFloat32>> halves = tf.split(zero, out, 2L).output();
      Operand<TFloat32> cond = halves.get(0);
      Operand<TFloat32> uncond = halves.get(1);
      // the sampler's guidance (ClassifierFreeGuidance), w for every row
      return ClassifierFreeGuidance.combine(
          tf, uncond, cond, tf.fill(tf.shape(labels), tf.constant((float) w)));
    };
  }

  /** {@code labels} with each entry replaced by {@code nullLabel} with probability {@code p}. */
  Operand<TInt32> dropLabels(Operand<TInt32> l, double p, int nullLabel) {
    if (p == 0) {
      return l;
    }
    Operand<TFloat32> u =
        tf.random.statelessRandomUniform(
            tf.shape(l),
            tf.math.add(seed, tf.constant(new long[] {LABEL_SEED_OFFSET, 0L})),
            TFloat32.class);
    this.droppedLabels =
        tf.select(
            tf.math.less(u, tf.constant((float) p)),
            tf.fill(tf.shape(l), tf.constant(nullLabel)),
            l);
    return droppedLabels;
  }

  @SuppressWarnings("unchecked")
  private static Operand<TInt32> int32(Operand<?> o) {
    return (Operand<TInt32>) o;
  }

  /**
   * Initialises every variable; with replicas, then copies the chief's weights and optimizer slots
   * to the other replicas.
   */
  public void initialize(Session session) {
    session.initialize();
    replication.ifPresent(r -> r.sync(session));
  }

  /**
   * Writes the variables to {@code prefix} in TensorFlow's checkpoint format. With replicas only
   * the chief's variables are written, by the chief's device (so by the chief's process, to its
   * file system), under the names a single-process run uses: either can resume the other's.
   */
  void save(Session session, String prefix) {
    if (replication.isPresent()) {
      replication.get().save(session, prefix);
    } else {
      session.save(prefix);
    }
  }

  /**
   * Restores the variables from {@code prefix}; with replicas, then copies them to every replica.
   */
  public void restore(Session session, String prefix) {
    if (replication.isPresent()) {
      replication.get().restore(session, prefix);
    } else {
      session.restore(prefix);
    }
  }

  @Override
  public void close() {
    graph.close();
  }
}
