package org.tfdiffusion.eval.classifier;

import static com.google.common.base.Preconditions.checkArgument;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.data.Batch;
import org.tfdiffusion.data.BatchIterator;
import org.tfdiffusion.data.ImageDataset;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.nn.VariableParameters;
import org.tfdiffusion.optim.AdamW;
import org.tfdiffusion.optim.AdamWConfig;
import org.tfdiffusion.run.ProgressMeter;

/**
 * Trains the {@link FashionClassifier} with softmax cross-entropy and {@link AdamW}:
 *
 * <pre>
 *   loss = -(1/B) Σ_b log softmax(f(x_b))[y_b]
 * </pre>
 *
 * on seeded, shuffled (optionally flipped) batches of the training split, then measures the
 * accuracy on the test split. The test split is only measured, never used to choose anything.
 */
public final class ClassifierTrainer {
  /** Offsets the dropout seed's first word from the run seed. */
  private static final long DROPOUT_SEED_OFFSET = 0x5DEECE66DL;

  /** Images per forward pass when measuring accuracy. */
  private static final int EVAL_BATCH = 1000;

  /** What training produced. */
  public record Outcome(
      Map<String, float[]> weights,
      double testAccuracy,
      double lastEpochTrainAccuracy,
      long steps,
      double seconds,
      int trainImages,
      int testImages,
      List<Double> testAccuracyByEpoch) {}

  private final PrintWriter out;
  private final boolean progressBar;

  /**
   * @param out where each epoch's line goes
   * @param progressBar draw a progress bar on stderr
   */
  public ClassifierTrainer(PrintWriter out, boolean progressBar) {
    this.out = out;
    this.progressBar = progressBar;
  }

  /**
   * Trains on {@code train} and measures on {@code test}.
   *
   * @throws IllegalArgumentException if a dataset is not labelled 28×28×1 with 10 classes
   */
  public Outcome train(
      ImageDataset train, ImageDataset test, ClassifierTrainConfig config, SessionOptions options) {
    checkData(train, "training");
    checkData(test, "test");
    checkArgument(
        config.batchSize() <= train.size(),
        "--batch-size %s is larger than the %s training images",
        config.batchSize(),
        train.size());
    long start = System.nanoTime();
    try (Graph graph = new Graph()) {
      Net net = new Net(graph, config);
      try (Session session = new Session(graph, options.toConfigProto())) {
        session.initialize();
        int stepsPerEpoch = train.size() / config.batchSize();
        long total = (long) stepsPerEpoch * config.epochs();
        BatchIterator batches =
            BatchIterator.builder(train)
                .batchSize(config.batchSize())
                .seed(config.seed())
                .horizontalFlip(config.flip())
                .build();
        List<Double> byEpoch = new ArrayList<>();
        double trainAccuracy = 0;
        long step = 0;
        try (ProgressMeter bar = progressBar ? bar(total) : null) {
          for (int epoch = 1; epoch <= config.epochs(); epoch++) {
            long correct = 0;
            double lossSum = 0;
            for (int s = 0; s < stepsPerEpoch; s++) {
              step++;
              Batch batch = batches.next();
              try (TFloat32 x = TensorIO.floats(Shape.of(batch.shape()), batch.images());
                  TInt32 y = TInt32.vectorOf(batch.labels());
                  TInt64 seed = TensorIO.longs(config.seed() + DROPOUT_SEED_OFFSET, step);
                  TFloat32 lr = TFloat32.scalarOf((float) config.learningRateAt(step, total));
                  TInt64 t = TInt64.scalarOf(step);
                  Result r =
                      session
                          .runner()
                          .feed(net.images, x)
                          .feed(net.labels, y)
                          .feed(net.seed, seed)
                          .feed(net.learningRate, lr)
                          .feed(net.step, t)
                          .addTarget(net.update)
                          .fetch(net.loss)
                          .fetch(net.correct)
                          .run()) {
                double loss = ((TFloat32) r.get(0)).getFloat();
                if (!Double.isFinite(loss)) {
                  throw new IllegalStateException(
                      "the classifier's loss became "
                          + loss
                          + " at step "
                          + step
                          + "; try a lower --lr");
                }
                lossSum += loss;
                correct += ((TInt32) r.get(1)).getInt();
              }
              if (bar != null) {
                bar.stepTo(bar.current() + 1);
                bar.setExtraMessage(
                    String.format(
                        "epoch %d | loss %.4f | train acc %.4f",
                        epoch,
                        lossSum / (s + 1),
                        correct / (double) ((s + 1) * config.batchSize())));
              }
            }
            trainAccuracy = correct / (double) (stepsPerEpoch * config.batchSize());
            double testAccuracy = accuracy(session, net, test);
            byEpoch.add(testAccuracy);
            out.printf(
                "epoch %d/%d: loss %.4f, train accuracy %.4f, test accuracy %.4f, %.0f s%n",
                epoch,
                config.epochs(),
                lossSum / stepsPerEpoch,
                trainAccuracy,
                testAccuracy,
                (System.nanoTime() - start) / 1e9);
            out.flush();
          }
        }
        Map<String, float[]> weights = new LinkedHashMap<>();
        Session.Runner fetch = session.runner();
        List<String> names = new ArrayList<>(net.weights.variables().keySet());
        names.forEach(n -> fetch.fetch(net.weights.variables().get(n)));
        try (Result r = fetch.run()) {
          for (int i = 0; i < names.size(); i++) {
            weights.put(names.get(i), TensorIO.toFloats(r.get(i)));
          }
        }
        return new Outcome(
            weights,
            byEpoch.get(byEpoch.size() - 1),
            trainAccuracy,
            step,
            (System.nanoTime() - start) / 1e9,
            train.size(),
            test.size(),
            List.copyOf(byEpoch));
      }
    }
  }

  /** The fraction of {@code data} whose label the network's arg-max matches. */
  private static double accuracy(Session session, Net net, ImageDataset data) {
    long correct = 0;
    int per = data.valuesPerImage();
    for (int from = 0; from < data.size(); from += EVAL_BATCH) {
      int n = Math.min(EVAL_BATCH, data.size() - from);
      float[] images = new float[n * per];
      int[] labels = new int[n];
      for (int i = 0; i < n; i++) {
        data.copyImage(from + i, images, i * per, false);
        labels[i] = data.label(from + i);
      }
      try (TFloat32 x =
              TensorIO.floats(
                  Shape.of(
                      n,
                      FashionClassifier.IMAGE_SIZE,
                      FashionClassifier.IMAGE_SIZE,
                      FashionClassifier.CHANNELS),
                  images);
          TInt32 y = TInt32.vectorOf(labels);
          Result r =
              session
                  .runner()
                  .feed(net.images, x)
                  .feed(net.labels, y)
                  .fetch(net.evalCorrect)
                  .run()) {
        correct += ((TInt32) r.get(0)).getInt();
      }
    }
    return correct / (double) data.size();
  }

  private static void checkData(ImageDataset data, String which) {
    checkArgument(
        data.labelled()
            && data.height() == FashionClassifier.IMAGE_SIZE
            && data.width() == FashionClassifier.IMAGE_SIZE
            && data.channels() == FashionClassifier.CHANNELS
            && data.numClasses() == FashionClassifier.CLASSES,
        "the %s data must be labelled 28x28x1 images of 10 classes (Fashion-MNIST), got %s",
        which,
        data);
  }

  private static ProgressMeter bar(long total) {
    return ProgressMeter.create("train-classifier", total, "steps", System.err);
  }

  /** The training graph: the network on variables, the loss, AdamW, and an inference path. */
  private static final class Net {
    final Placeholder<TFloat32> images;
    final Placeholder<TInt32> labels;
    final Placeholder<TInt64> seed;
    final Placeholder<TFloat32> learningRate;
    final Placeholder<TInt64> step;
    final VariableParameters weights;
    final Operand<TFloat32> loss;
    final Operand<TInt32> correct;
    final Operand<TInt32> evalCorrect;
    final Op update;

    Net(Graph graph, ClassifierTrainConfig config) {
      Ops tf = Ops.create(graph);
      Ops in = tf.withSubScope("inputs");
      images =
          in.withName("images")
              .placeholder(
                  TFloat32.class,
                  Placeholder.shape(
                      Shape.of(
                          -1,
                          FashionClassifier.IMAGE_SIZE,
                          FashionClassifier.IMAGE_SIZE,
                          FashionClassifier.CHANNELS)));
      labels = in.withName("labels").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
      seed = in.withName("seed").placeholder(TInt64.class, Placeholder.shape(Shape.of(2)));
      learningRate =
          in.withName("learning_rate")
              .placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
      step = in.withName("step").placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
      weights = new VariableParameters(tf, config.seed());
      Ops train = tf.withSubScope("train");
      FashionClassifier.Outputs outputs =
          FashionClassifier.apply(
              NetScope.training(train, weights, seed), images, config.dropout());
      Operand<TFloat32> oneHot =
          tf.oneHot(
              labels, tf.constant(FashionClassifier.CLASSES), tf.constant(1f), tf.constant(0f));
      Operand<TFloat32> logLikelihood =
          tf.reduceSum(tf.math.mul(oneHot, tf.nn.logSoftmax(outputs.logits())), tf.constant(1));
      loss = tf.math.neg(tf.math.mean(logLikelihood, tf.constant(0)));
      correct = countCorrect(tf, outputs.logits(), labels);

      Map<String, Variable<TFloat32>> vars = weights.variables();
      Gradients gradients = tf.gradients(loss, vars.values());
      Map<String, Operand<TFloat32>> grads = new LinkedHashMap<>();
      int i = 0;
      for (String name : vars.keySet()) {
        grads.put(name, gradients.<TFloat32>dy(i++));
      }
      AdamW adamw = new AdamW(tf, new AdamWConfig(0.9, 0.999, 1e-8, config.weightDecay(), 0));
      update = adamw.update(vars, grads, learningRate, step).op();

      FashionClassifier.Outputs eval =
          FashionClassifier.apply(NetScope.inference(tf.withSubScope("eval"), weights), images, 0);
      evalCorrect = countCorrect(tf, eval.logits(), labels);
    }

    private static Operand<TInt32> countCorrect(
        Ops tf, Operand<TFloat32> logits, Operand<TInt32> labels) {
      Operand<TInt32> predicted = tf.math.argMax(logits, tf.constant(1), TInt32.class);
      return tf.reduceSum(
          tf.dtypes.cast(tf.math.equal(predicted, labels), TInt32.class), tf.constant(0));
    }
  }
}
