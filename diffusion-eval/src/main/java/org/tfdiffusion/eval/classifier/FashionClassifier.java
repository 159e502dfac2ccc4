package org.tfdiffusion.eval.classifier;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.nn.Conv2d;
import org.tfdiffusion.nn.Dense;
import org.tfdiffusion.nn.Dropout;
import org.tfdiffusion.nn.ModelLedger;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.nn.ParameterSpec;

/**
 * The Fashion-MNIST classifier whose penultimate features stand in for Inception's in FD and KID: a
 * small CNN built from this project's layers, for 28×28×1 images in [-1, 1] (the diffusion data's
 * pixel convention).
 *
 * <pre>
 *   conv1  3×3, 1 → 32, ReLU      28×28   max-pool 2×2 → 14×14
 *   conv2  3×3, 32 → 64, ReLU     14×14   max-pool 2×2 →  7×7
 *   conv3  3×3, 64 → 64, ReLU      7×7    max-pool 2×2 ("SAME") → 4×4×64 = 1024
 *   fc1    1024 → 128, ReLU                 = the features (128-d)
 *   dropout (training only)
 *   fc2    128 → 10                         = the logits
 * </pre>
 *
 * About 188 thousand weights (0.75 MB in float32) and 11.5 MFLOP per image, so that it trains in
 * minutes on two CPU cores and ships inside the repository.
 */
public final class FashionClassifier {
  /** Image height and width. */
  public static final int IMAGE_SIZE = 28;

  /** Grayscale. */
  public static final int CHANNELS = 1;

  /** Fashion-MNIST's ten classes. */
  public static final int CLASSES = 10;

  /** The dimension of the penultimate features. */
  public static final int FEATURES = 128;

  private static final int WIDTH_1 = 32;
  private static final int WIDTH_2 = 64;
  private static final int WIDTH_3 = 64;
  private static final int KERNEL = 3;

  /** 28 → 14 → 7 → 4 ("SAME" pooling rounds up). */
  private static final int FINAL_SIZE = 4;

  /** The classifier's outputs for a batch. */
  public record Outputs(Operand<TFloat32> features, Operand<TFloat32> logits) {}

  private FashionClassifier() {}

  /**
   * Builds the network on {@code images} [B, 28, 28, 1] in [-1, 1].
   *
   * @param dropout the dropout rate before the last layer; applied only in a training scope
   */
  public static Outputs apply(NetScope scope, Operand<TFloat32> images, double dropout) {
    Shape shape = images.shape();
    checkArgument(
        shape.numDimensions() == 4
            && shape.size(1) == IMAGE_SIZE
            && shape.size(2) == IMAGE_SIZE
            && shape.size(3) == CHANNELS,
        "the classifier takes images [B, %s, %s, %s], got %s",
        IMAGE_SIZE,
        IMAGE_SIZE,
        CHANNELS,
        shape);
    Ops tf = scope.tf();
    Operand<TFloat32> h = block(scope.child("conv1"), images, CHANNELS, WIDTH_1);
    h = block(scope.child("conv2"), h, WIDTH_1, WIDTH_2);
    h = block(scope.child("conv3"), h, WIDTH_2, WIDTH_3);
    int flat = FINAL_SIZE * FINAL_SIZE * WIDTH_3;
    h = tf.reshape(h, tf.constant(new long[] {-1, flat}));
    Operand<TFloat32> features = tf.nn.relu(Dense.apply(scope.child("fc1"), h, flat, FEATURES));
    Operand<TFloat32> dropped = Dropout.apply(scope, features, dropout);
    Operand<TFloat32> logits = Dense.apply(scope.child("fc2"), dropped, FEATURES, CLASSES);
    return new Outputs(features, logits);
  }

  /** 3×3 convolution, ReLU, 2×2 max-pool (stride 2, "SAME": odd sizes round up). */
  private static Operand<TFloat32> block(NetScope scope, Operand<TFloat32> x, int in, int out) {
    Ops tf = scope.tf();
    Operand<TFloat32> h = tf.nn.relu(Conv2d.apply(scope, x, in, out, KERNEL, 1));
    return tf.nn.maxPool(
        h, tf.constant(new int[] {1, 2, 2, 1}), tf.constant(new int[] {1, 2, 2, 1}), "SAME");
  }

  /** Builds the network once in a scratch graph: its weights in order, and FLOPs per image. */
  public static ModelLedger trace() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope =
          NetScope.inference(tf, spec -> tf.zeros(tf.constant(spec.shape()), TFloat32.class));
      apply(
          scope,
          tf.placeholder(
              TFloat32.class, Placeholder.shape(Shape.of(-1, IMAGE_SIZE, IMAGE_SIZE, CHANNELS))),
          0);
      return scope.ledger();
    }
  }

  /** The weights in build order. */
  public static List<ParameterSpec> parameterSpecs() {
    return List.copyOf(trace().parameters().values());
  }
}
