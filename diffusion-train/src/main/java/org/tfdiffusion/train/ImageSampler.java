package org.tfdiffusion.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.IntConsumer;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.graph.BigStack;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.nn.BoundParameters;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.nn.Parameters;
import org.tfdiffusion.sampling.ClassifierFreeGuidance;
import org.tfdiffusion.sampling.HostLoop;
import org.tfdiffusion.sampling.Sampler;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;

/**
 * Images from a trained run or an export: the model's weights restored from a checkpoint (or the
 * export's variables), the compiled sampling loop (or the host loop) built over them, with
 * classifier-free guidance for class-conditional models. One seed per image; for conditional models
 * a label and a guidance scale per image too.
 */
public final class ImageSampler implements AutoCloseable {
  private final TrainedModel model;
  private final SamplingPlan plan;
  private final boolean host;
  private final int snapshots;
  private Placeholder<TInt64> seeds;
  private Placeholder<TInt32> labels;
  private Placeholder<TFloat32> scales;
  private Operand<TFloat32> samples;
  private Optional<Operand<TFloat32>> x0Snapshots = Optional.empty();
  private HostLoop hostLoop;

  /** What one call returns: images in [0, 1] [N, H, W, C] and the optional x0 snapshots. */
  public record Images(float[] pixels, int count, Optional<float[]> snapshots) {}

  /** How the model is loaded, with the sampler's ops added through the callback. */
  @FunctionalInterface
  private interface Loader {
    TrainedModel load(java.util.function.Consumer<TrainedModel> build);
  }

  private ImageSampler(
      Loader loader, Sampler sampler, boolean host, int snapshots, SessionOptions options) {
    this.host = host;
    this.snapshots = snapshots;
    SamplingPlan[] planHolder = new SamplingPlan[1];
    this.model = loader.load(m -> planHolder[0] = build(m, sampler, options));
    this.plan = planHolder[0];
  }

  /**
   * Loads a run or checkpoint and builds its sampling graph.
   *
   * @param host the host loop (one run per step) instead of the compiled loop
   * @param snapshots x̂_0 snapshots to return (compiled loop only), 0 for none
   */
  public static ImageSampler open(
      java.nio.file.Path path,
      TrainedModel.Weights which,
      Sampler sampler,
      boolean host,
      int snapshots,
      SessionOptions options) {
    return new ImageSampler(
        build -> TrainedModel.load(path, which, options, build), sampler, host, snapshots, options);
  }

  /**
   * Loads an export's weights into a sampling graph of this process's own (any sampler, this
   * machine's kernels), as {@link TrainedModel#loadExport}.
   */
  public static ImageSampler openExport(
      java.nio.file.Path versionDir,
      TrainConfig config,
      TrainedModel.Weights which,
      long step,
      Sampler sampler,
      boolean host,
      int snapshots,
      SessionOptions options) {
    return new ImageSampler(
        build -> TrainedModel.loadExport(versionDir, config, which, step, options, build),
        sampler,
        host,
        snapshots,
        options);
  }

  private SamplingPlan build(TrainedModel m, Sampler sampler, SessionOptions options) {
    Ops tf = m.tf();
    UNetConfig config = m.config().model();
    UNet unet = new UNet(config);
    SamplingPlan p = sampler.plan(m.config().noiseSchedule(), m.config().predictionType());
    checkArgument(
        snapshots >= 0 && snapshots <= p.steps(),
        "snapshots must be in [0, %s], got %s",
        p.steps(),
        snapshots);
    List<Operand<?>> conditioning = new ArrayList<>();
    SamplingLoop.Model net;
    if (config.conditional()) {
      labels = tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
      scales = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1)));
      conditioning.add(labels);
      conditioning.add(scales);
      net =
          ClassifierFreeGuidance.guided(
              (f, w, x, t, y) -> unet.apply(options.inferenceScope(f, w), x, t, Optional.of(y)),
              config.numClasses());
    } else {
      net = (f, w, x, t, cond) -> unet.apply(options.inferenceScope(f, w), x, t, Optional.empty());
    }
    Shape image = Shape.of(config.imageSize(), config.imageSize(), config.channels());
    if (host) {
      hostLoop = new HostLoop(tf, p, image, net, new BoundParameters(m.weights()), conditioning);
      return p;
    }
    seeds = tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
    SamplingLoop.Outputs out =
        SamplingLoop.compiled(tf, p, image, net, m.weights(), seeds, conditioning, snapshots);
    samples = SamplingLoop.toUnitRange(tf, out.samples());
    x0Snapshots = out.x0Snapshots().map(s -> SamplingLoop.toUnitRange(tf, s));
    return p;
  }

  /**
   * The network's scope: oneDNN's convolutions, in bfloat16 too, where the options ask for them.
   */
  static NetScope scope(Ops f, Parameters w, SessionOptions options) {
    return NetScope.inference(f, w)
        .withNativeConvolutions(options.nativeConvolutions())
        .withBfloat16Convolutions(options.nativeConvolutions() && options.bfloat16());
  }

  public TrainedModel model() {
    return model;
  }

  public SamplingPlan plan() {
    return plan;
  }

  /**
   * Samples one image per seed.
   *
   * @param classLabels one label per image for conditional models (empty otherwise)
   * @param guidance one guidance scale per image for conditional models
   * @param afterStep progress of the host loop
   * @throws IllegalArgumentException for labels given to an unconditional model, missing or
   *     out-of-range labels
   */
  public Images sample(
      long[] seedValues, int[] classLabels, float[] guidance, IntConsumer afterStep) {
    UNetConfig config = model.config().model();
    int n = seedValues.length;
    checkArgument(n >= 1, "at least one seed is needed");
    if (!config.conditional()) {
      checkArgument(
          classLabels.length == 0,
          "this model is unconditional (trained without labels): it takes no class labels");
    } else {
      checkArgument(
          classLabels.length == n && guidance.length == n,
          "a class-conditional model needs one label and one guidance scale per image");
      for (int l : classLabels) {
        checkArgument(
            l >= 0 && l < config.numClasses(),
            "class label %s is out of range [0, %s)",
            l,
            config.numClasses());
      }
    }
    try (TInt64 seedTensor = TensorIO.longs(seedValues);
        TInt32 labelTensor = config.conditional() ? TInt32.vectorOf(classLabels) : null;
        TFloat32 scaleTensor = config.conditional() ? TFloat32.vectorOf(guidance) : null) {
      Map<Operand<?>, Tensor> feeds = new HashMap<>();
      if (config.conditional()) {
        feeds.put(labels, labelTensor);
        feeds.put(scales, scaleTensor);
      }
      if (host) {
        try (TFloat32 x = hostLoop.run(model.session(), seedTensor, feeds, afterStep)) {
          float[] raw = TensorIO.toFloats(x);
          for (int i = 0; i < raw.length; i++) {
            raw[i] = Math.max(0f, Math.min(1f, (raw[i] + 1f) / 2f));
          }
          return new Images(raw, n, Optional.empty());
        }
      }
      Session.Runner runner = model.session().runner().feed(seeds, seedTensor).fetch(samples);
      feeds.forEach(runner::feed);
      x0Snapshots.ifPresent(runner::fetch);
      try (Result r = BigStack.call(runner::run)) {
        afterStep.accept(plan.steps());
        return new Images(
            TensorIO.toFloats(r.get(0)),
            n,
            x0Snapshots.isPresent() ? Optional.of(TensorIO.toFloats(r.get(1))) : Optional.empty());
      }
    }
  }

  @Override
  public void close() {
    model.close();
  }
}
