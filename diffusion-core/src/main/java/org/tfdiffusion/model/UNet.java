package org.tfdiffusion.model;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import java.util.function.BiFunction;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TNumber;
import org.tfdiffusion.nn.Attention;
import org.tfdiffusion.nn.Conv2d;
import org.tfdiffusion.nn.Initializer;
import org.tfdiffusion.nn.ModelLedger;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.nn.ParameterSpec;
import org.tfdiffusion.nn.Parameters;
import org.tfdiffusion.nn.ResBlock;
import org.tfdiffusion.nn.Resample;
import org.tfdiffusion.nn.TimeEmbedding;
import org.tfdiffusion.sampling.ClassifierFreeGuidance;
import org.tfdiffusion.sampling.SamplingLoop;

/**
 * The tutorial's U-Net ε-predictor, made correct (NHWC), built into any graph through a {@link
 * NetScope}:
 *
 * <pre>
 *   emb  = MLP(sinusoidal(t))  [+ label_embed[y]]
 *   h    = input_conv(x); h = input_block(h, emb)              width w_0 = baseWidth · m_0
 *   for r in 0..L-2:   down_r:  res blocks w_r → w_{r+1}; push h; h = downsample(h)
 *   mid: res block at w_{L-1}
 *   for r in L-2..0:   up_r:    h = upsample(h); h = concat(h, pop()); res blocks 2w_{r+1} → w_r
 *   h = output_block(h, emb);   ε = output_conv(h)
 * </pre>
 *
 * Skips are symmetric: one push before each downsample, one pop after each upsample. With the
 * default config this is exactly the corrected tutorial model ({@code peer/seed_fixed.py}).
 */
public final class UNet {
  /**
   * The image-facing convolutions run with at least this many channels (zero-padded inside the
   * graph, weights unchanged): bfloat16 training turns NaN with 1- or 3-channel convolutions.
   */
  static final int MIN_IMAGE_CHANNELS = 4;

  private final UNetConfig config;

  public UNet(UNetConfig config) {
    this.config = config;
  }

  public UNetConfig config() {
    return config;
  }

  /**
   * The U-Net as the samplers call it: for a class-conditional model, classifier-free guidance over
   * the conditioning {@code [labels, scales]} (one label and one guidance scale per row, see {@link
   * ClassifierFreeGuidance#guided}); otherwise the plain network, which takes no conditioning.
   *
   * @param scope the layer scope of a graph or function body and the weights in it (e.g. {@link
   *     NetScope#inference})
   */
  public SamplingLoop.Model samplingNetwork(BiFunction<Ops, Parameters, NetScope> scope) {
    if (config.conditional()) {
      return ClassifierFreeGuidance.guided(
          (tf, weights, x, t, labels) -> apply(scope.apply(tf, weights), x, t, Optional.of(labels)),
          config.numClasses());
    }
    return (tf, weights, x, t, conditioning) ->
        apply(scope.apply(tf, weights), x, t, Optional.empty());
  }

  /**
   * Predicts the model output (ε by default) for noisy images.
   *
   * @param x noisy images [B, S, S, C] with static S and C
   * @param t timesteps [B]
   * @param labels class labels [B] in [0, numClasses] (numClasses is the null label), required
   *     exactly when the model is conditional
   * @return [B, S, S, C]
   */
  public Operand<TFloat32> apply(
      NetScope scope,
      Operand<TFloat32> x,
      Operand<? extends TNumber> t,
      Optional<Operand<TInt32>> labels) {
    Shape shape = x.shape();
    checkArgument(
        shape.numDimensions() == 4
            && shape.size(1) == config.imageSize()
            && shape.size(2) == config.imageSize()
            && shape.size(3) == config.channels(),
        "the U-Net expects images [B, %s, %s, %s], got %s",
        config.imageSize(),
        config.imageSize(),
        config.channels(),
        shape);
    checkArgument(
        labels.isPresent() == config.conditional(),
        config.conditional()
            ? "this model is class-conditional (%s classes): give a label per image"
            : "this model is unconditional: it takes no class labels (numClasses %s)",
        config.numClasses());
    Ops tf = scope.tf();
    int embDim = config.embeddingDim();
    int groups = config.normGroups();
    double dropout = config.dropout();
    Operand<TFloat32> emb = TimeEmbedding.apply(scope.child("time_embed"), t, embDim);
    if (labels.isPresent()) {
      Operand<TFloat32> table =
          scope
              .child("label_embed")
              .param("weight", Shape.of(config.numClasses() + 1, embDim), Initializer.normal(1.0));
      emb = tf.math.add(emb, tf.gather(table, labels.get(), tf.constant(0)));
    }

    int w0 = config.width(0);
    Operand<TFloat32> h =
        Conv2d.applyPadded(
            scope.child("input_conv"), x, config.channels(), w0, 3, MIN_IMAGE_CHANNELS);
    h = ResBlock.apply(scope.child("input_block"), h, emb, w0, w0, embDim, groups, dropout);

    Deque<Operand<TFloat32>> skips = new ArrayDeque<>();
    int levels = config.levels();
    for (int r = 0; r < levels - 1; r++) {
      NetScope level = scope.child("down_" + r);
      int out = config.width(r + 1);
      for (int b = 0; b < config.blocksPerLevel(); b++) {
        int in = b == 0 ? config.width(r) : out;
        h = ResBlock.apply(level.child("res_" + b), h, emb, in, out, embDim, groups, dropout);
        h = maybeAttend(level.child("attn_" + b), h, r, out);
      }
      skips.push(h);
      h = Resample.down(level.child("downsample"), h, out);
    }

    NetScope mid = scope.child("mid");
    int bottom = config.width(levels - 1);
    h = ResBlock.apply(mid.child("res_0"), h, emb, bottom, bottom, embDim, groups, dropout);
    h = maybeAttend(mid.child("attn_0"), h, levels - 1, bottom);

    for (int r = levels - 2; r >= 0; r--) {
      NetScope level = scope.child("up_" + r);
      int skipWidth = config.width(r + 1);
      int out = config.width(r);
      h = Resample.up(level.child("upsample"), h, skipWidth);
      h = tf.concat(List.of(h, skips.pop()), tf.constant(3));
      for (int b = 0; b < config.blocksPerLevel(); b++) {
        int in = b == 0 ? 2 * skipWidth : out;
        h = ResBlock.apply(level.child("res_" + b), h, emb, in, out, embDim, groups, dropout);
        h = maybeAttend(level.child("attn_" + b), h, r, out);
      }
    }

    h = ResBlock.apply(scope.child("output_block"), h, emb, w0, w0, embDim, groups, dropout);
    return Conv2d.applyPadded(
        scope.child("output_conv"), h, w0, config.channels(), 3, MIN_IMAGE_CHANNELS);
  }

  private Operand<TFloat32> maybeAttend(NetScope scope, Operand<TFloat32> h, int level, int width) {
    if (!config.attentionResolutions().contains(config.resolution(level))) {
      return h;
    }
    return Attention.apply(scope, h, width, config.attentionHeads(), config.normGroups());
  }

  /**
   * Builds the model once in a scratch graph and returns what it recorded: every weight in order
   * and the forward FLOPs per layer. No session runs.
   */
  public ModelLedger trace() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope =
          NetScope.inference(tf, spec -> tf.zeros(tf.constant(spec.shape()), TFloat32.class));
      Operand<TFloat32> x =
          tf.placeholder(
              TFloat32.class,
              org.tensorflow.op.core.Placeholder.shape(
                  Shape.of(-1, config.imageSize(), config.imageSize(), config.channels())));
      Operand<TInt32> t = tf.placeholder(TInt32.class);
      Optional<Operand<TInt32>> labels =
          config.conditional() ? Optional.of(tf.placeholder(TInt32.class)) : Optional.empty();
      apply(scope, x, t, labels);
      return scope.ledger();
    }
  }

  /** The weights of this model in build order. */
  public List<ParameterSpec> parameterSpecs() {
    return List.copyOf(trace().parameters().values());
  }

  /** Parameters per block and in total, and forward GFLOPs per image. */
  public ModelSummary summary() {
    return ModelSummary.of(config, trace());
  }
}
