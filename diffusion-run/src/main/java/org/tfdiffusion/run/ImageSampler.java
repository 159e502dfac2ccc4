package org.tfdiffusion.run;

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
import org.tfdiffusion.sampling.HostLoop;
import org.tfdiffusion.sampling.Sampler;
import org.tfdiffusion.sampling.SamplingLoop;
import org.tfdiffusion.sampling.SamplingPlan;
import org.tfdiffusion.sampling.Trajectory;
import org.tfdiffusion.sampling.editing.EditImages;

/**
 * Images from a trained run or an export: the model's weights restored from a checkpoint (or the
 * export's variables), the compiled sampling loop (or the host loop) built over them, with
 * classifier-free guidance for class-conditional models. One seed per image; for conditional models
 * a label and a guidance scale per image too.
 *
 * <p>The loop draws what its {@link EditMode} asks for: images from noise, or an edit (image-to-
 * image, inpainting, interpolation between two seeds; see docs/editing.md). The mode is fixed when
 * the graph is built; the images and masks an edit reads are given with each call, as pixels in [0,
 * 1]. Every row's noise comes from its own seed, so a row's result depends on its seed, its image
 * and its mask only, in any batch.
 */
public final class ImageSampler implements AutoCloseable {
  private final TrainedModel model;
  private final SamplingPlan plan;
  private final EditMode edit;
  private final boolean host;
  private final int snapshots;
  private int loopSteps;
  private Placeholder<TInt64> seeds;
  private Placeholder<TInt64> seedA;
  private Placeholder<TInt64> seedB;
  private Placeholder<TFloat32> image;
  private Placeholder<TFloat32> mask;
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
      Loader loader,
      Sampler sampler,
      EditMode edit,
      boolean host,
      int snapshots,
      SessionOptions options) {
    this.edit = edit;
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
    return open(path, which, sampler, EditMode.plain(), host, snapshots, options);
  }

  /**
   * Loads a run or checkpoint and builds the sampling graph of an edit.
   *
   * @throws IllegalArgumentException when the edit does not fit the sampler (a strength that runs
   *     no step, a resampling jump longer than the steps, interpolation with a noisy sampler)
   */
  public static ImageSampler open(
      java.nio.file.Path path,
      TrainedModel.Weights which,
      Sampler sampler,
      EditMode edit,
      boolean host,
      int snapshots,
      SessionOptions options) {
    return new ImageSampler(
        build -> TrainedModel.load(path, which, options, build),
        sampler,
        edit,
        host,
        snapshots,
        options);
  }

  /**
   * Loads an export's weights into a sampling graph of this process's own (any sampler, this
   * machine's kernels), as {@link TrainedModel#loadExport}.
   */
  public static ImageSampler openExport(
      ExportedModel export, Sampler sampler, boolean host, int snapshots, SessionOptions options) {
    return openExport(export, sampler, EditMode.plain(), host, snapshots, options);
  }

  /** {@link #openExport(ExportedModel, Sampler, boolean, int, SessionOptions)} for an edit. */
  public static ImageSampler openExport(
      ExportedModel export,
      Sampler sampler,
      EditMode edit,
      boolean host,
      int snapshots,
      SessionOptions options) {
    return new ImageSampler(
        build -> TrainedModel.loadExport(export, options, build),
        sampler,
        edit,
        host,
        snapshots,
        options);
  }

  private SamplingPlan build(TrainedModel m, Sampler sampler, SessionOptions options) {
    Ops tf = m.tf();
    UNetConfig config = m.config().model();
    UNet unet = new UNet(config);
    SamplingPlan p = sampler.plan(m.config().noiseSchedule(), m.config().predictionType());
    List<Operand<?>> conditioning = new ArrayList<>();
    if (config.conditional()) {
      labels = tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
      scales = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1)));
      conditioning.add(labels);
      conditioning.add(scales);
    }
    SamplingLoop.Model net = unet.samplingNetwork(options::inferenceScope);
    int size = config.imageSize();
    Shape imageShape = Shape.of(size, size, config.channels());
    seeds = tf.placeholder(TInt64.class, Placeholder.shape(Shape.of(-1)));
    Trajectory trajectory = trajectory(tf, p, imageShape);
    loopSteps = trajectory.plan().steps();
    checkArgument(
        snapshots >= 0 && snapshots <= loopSteps,
        "snapshots must be in [0, %s] (the steps the loop runs), got %s",
        loopSteps,
        snapshots);
    if (host) {
      hostLoop =
          new HostLoop(
              tf, trajectory, imageShape, net, new BoundParameters(m.weights()), conditioning);
      return p;
    }
    SamplingLoop.Outputs out =
        SamplingLoop.compiled(
            tf, trajectory, imageShape, net, m.weights(), conditioning, snapshots);
    samples = SamplingLoop.toUnitRange(tf, out.samples());
    x0Snapshots = out.x0Snapshots().map(s -> SamplingLoop.toUnitRange(tf, s));
    return p;
  }

  /** The trajectory of the edit mode, with placeholders for what it reads. */
  private Trajectory trajectory(Ops tf, SamplingPlan p, Shape imageShape) {
    Shape batch = Shape.of(-1, imageShape.get(0), imageShape.get(1), imageShape.get(2));
    if (edit.takesImages()) {
      image = tf.placeholder(TFloat32.class, Placeholder.shape(batch));
    }
    if (edit instanceof EditMode.FromImage i2i) {
      return i2i.mode().trajectory(tf, p, imageShape, image, seeds);
    }
    if (edit instanceof EditMode.Inpaint inpaint) {
      mask =
          tf.placeholder(
              TFloat32.class,
              Placeholder.shape(Shape.of(-1, imageShape.get(0), imageShape.get(1), 1)));
      return inpaint.mode().trajectory(tf, p, imageShape, image, mask, seeds);
    }
    if (edit instanceof EditMode.Interpolate strip) {
      seedA = tf.placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
      seedB = tf.placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
      return strip.mode().trajectory(tf, p, imageShape, seedA, seedB);
    }
    return Trajectory.sampling(p, seeds);
  }

  public TrainedModel model() {
    return model;
  }

  /** The sampler's plan (all N steps; an edit may run part of it, or some steps again). */
  public SamplingPlan plan() {
    return plan;
  }

  /** What the loop draws. */
  public EditMode edit() {
    return edit;
  }

  /**
   * The steps one call runs: the plan's N for plain sampling and interpolation, fewer for an edit
   * below strength 1, more with RePaint's resampling.
   */
  public int steps() {
    return loopSteps;
  }

  /**
   * Samples one image per seed (plain sampling).
   *
   * @param classLabels one label per image for conditional models (empty otherwise)
   * @param guidance one guidance scale per image for conditional models
   * @param afterStep progress of the host loop
   * @throws IllegalArgumentException for labels given to an unconditional model, missing or
   *     out-of-range labels, or a sampler built for an edit that reads images
   */
  public Images sample(
      long[] seedValues, int[] classLabels, float[] guidance, IntConsumer afterStep) {
    return sample(seedValues, classLabels, guidance, EditInputs.none(), afterStep);
  }

  /**
   * Samples one image per seed, editing {@code inputs} as this sampler's {@link EditMode} asks.
   *
   * @param inputs the images (and masks) of image-to-image and inpainting, in [0, 1]; {@link
   *     EditInputs#none()} for plain sampling
   * @throws IllegalArgumentException for bad labels (see {@link #sample(long[], int[], float[],
   *     IntConsumer)}), images or masks missing, of the wrong size, count or range, or given to a
   *     mode that reads none
   */
  public Images sample(
      long[] seedValues,
      int[] classLabels,
      float[] guidance,
      EditInputs inputs,
      IntConsumer afterStep) {
    checkArgument(
        !(edit instanceof EditMode.Interpolate),
        "this sampler draws interpolation strips: call interpolate(seedA, seedB, ...)");
    int n = seedValues.length;
    checkArgument(n >= 1, "at least one seed is needed");
    checkConditioning(n, classLabels, guidance);
    UNetConfig config = model.config().model();
    int size = config.imageSize();
    int perImage = size * size * config.channels();
    int perMask = size * size;
    if (!edit.takesImages()) {
      checkArgument(
          inputs.imageCount() == 0 && inputs.maskCount() == 0,
          "plain sampling takes no images or masks: open the sampler for an edit");
    } else {
      checkArgument(
          inputs.imageCount() == 1 || inputs.imageCount() == n,
          "%s images for %s seeds: give one image (used for every seed) or one per seed",
          inputs.imageCount(),
          n);
      checkArgument(
          inputs.images().length == inputs.imageCount() * perImage,
          "%s pixel values for %s images of %s×%s×%s",
          inputs.images().length,
          inputs.imageCount(),
          size,
          size,
          config.channels());
      if (edit instanceof EditMode.Inpaint) {
        checkArgument(
            inputs.maskCount() == 1 || inputs.maskCount() == n,
            "%s masks for %s seeds: give one mask (used for every seed) or one per seed",
            inputs.maskCount(),
            n);
        checkArgument(
            inputs.masks().length == inputs.maskCount() * perMask,
            "%s mask values for %s masks of %s×%s×1",
            inputs.masks().length,
            inputs.maskCount(),
            size,
            size);
      } else {
        checkArgument(inputs.maskCount() == 0, "image-to-image takes no mask: inpaint instead");
      }
    }
    try (TInt64 seedTensor = TensorIO.longs(seedValues);
        TFloat32 imageTensor =
            edit.takesImages()
                ? TensorIO.floats(
                    Shape.of(inputs.imageCount(), size, size, config.channels()),
                    EditImages.fromUnitRange(inputs.images()))
                : null;
        TFloat32 maskTensor = edit instanceof EditMode.Inpaint ? maskTensor(inputs, size) : null) {
      Map<Operand<?>, Tensor> feeds = new HashMap<>();
      feeds.put(seeds, seedTensor);
      if (imageTensor != null) {
        feeds.put(image, imageTensor);
      }
      if (maskTensor != null) {
        feeds.put(mask, maskTensor);
      }
      return run(n, classLabels, guidance, feeds, afterStep);
    }
  }

  private static TFloat32 maskTensor(EditInputs inputs, int size) {
    float[] values = inputs.masks();
    EditImages.checkMaskValues(values);
    return TensorIO.floats(Shape.of(inputs.maskCount(), size, size, 1), values);
  }

  /**
   * Samples the interpolation strip between two seeds' images (a sampler opened with {@link
   * EditMode#interpolate}): F frames, frame 0 seed A's image, frame F-1 seed B's.
   *
   * @param label the class of every frame for conditional models (ignored otherwise)
   * @param guidance the guidance scale of every frame for conditional models
   * @throws IllegalArgumentException for a sampler opened for another mode, or a bad label
   */
  public Images interpolate(long a, long b, int label, float guidance, IntConsumer afterStep) {
    checkArgument(
        edit instanceof EditMode.Interpolate,
        "this sampler was opened for %s, not interpolation",
        edit.describe());
    int frames = ((EditMode.Interpolate) edit).mode().frames();
    boolean conditional = model.config().model().conditional();
    int[] labelsOfFrames = new int[conditional ? frames : 0];
    float[] scalesOfFrames = new float[conditional ? frames : 0];
    java.util.Arrays.fill(labelsOfFrames, label);
    java.util.Arrays.fill(scalesOfFrames, guidance);
    checkConditioning(frames, labelsOfFrames, scalesOfFrames);
    try (TInt64 first = TInt64.scalarOf(a);
        TInt64 last = TInt64.scalarOf(b)) {
      Map<Operand<?>, Tensor> feeds = new HashMap<>();
      feeds.put(seedA, first);
      feeds.put(seedB, last);
      return run(frames, labelsOfFrames, scalesOfFrames, feeds, afterStep);
    }
  }

  private void checkConditioning(int n, int[] classLabels, float[] guidance) {
    UNetConfig config = model.config().model();
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
  }

  /** Runs the loop for {@code n} rows with {@code feeds} and the conditioning. */
  private Images run(
      int n,
      int[] classLabels,
      float[] guidance,
      Map<Operand<?>, Tensor> feeds,
      IntConsumer afterStep) {
    boolean conditional = model.config().model().conditional();
    try (TInt32 labelTensor = conditional ? TInt32.vectorOf(classLabels) : null;
        TFloat32 scaleTensor = conditional ? TFloat32.vectorOf(guidance) : null) {
      Map<Operand<?>, Tensor> all = new HashMap<>(feeds);
      if (conditional) {
        all.put(labels, labelTensor);
        all.put(scales, scaleTensor);
      }
      if (host) {
        try (TFloat32 x = hostLoop.run(model.session(), all, afterStep)) {
          float[] raw = TensorIO.toFloats(x);
          for (int i = 0; i < raw.length; i++) {
            raw[i] = Math.max(0f, Math.min(1f, (raw[i] + 1f) / 2f));
          }
          return new Images(raw, n, Optional.empty());
        }
      }
      Session.Runner runner = model.session().runner().fetch(samples);
      all.forEach(runner::feed);
      x0Snapshots.ifPresent(runner::fetch);
      try (Result r = BigStack.call(runner::run)) {
        afterStep.accept(loopSteps);
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
