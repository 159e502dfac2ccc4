package org.tfdiffusion.eval.classifier;

import static com.google.common.base.Preconditions.checkArgument;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.SessionFunction;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.data.ImageDataset;
import org.tfdiffusion.export.ModelExporter;
import org.tfdiffusion.graph.TensorIO;

/**
 * The exported {@link FashionClassifier}, loaded from its SavedModel: features and predicted
 * classes for batches of 28×28×1 images in [-1, 1].
 *
 * <p>{@link #locate()} finds the shipped model, {@code saved_models/fashion-mnist-classifier}, in
 * the working directory or the nearest parent that has it (tests run in a module folder).
 */
public final class Classifier implements AutoCloseable {
  /** The shipped model's folder name under saved_models/. */
  public static final String NAME = "fashion-mnist-classifier";

  /** Images per call of the SavedModel. */
  public static final int BATCH = 500;

  private final Path directory;
  private final SavedModelBundle bundle;
  private final SessionFunction serving;

  /** Features (rows = images) and the arg-max class of each image. */
  public record Embedding(double[][] features, int[] predicted) {
    /** The fraction of images whose predicted class is {@code labels[i]}. */
    public double accuracy(int[] labels) {
      checkArgument(
          labels.length == predicted.length,
          "%s labels for %s images",
          labels.length,
          predicted.length);
      int correct = 0;
      for (int i = 0; i < labels.length; i++) {
        if (predicted[i] == labels[i]) {
          correct++;
        }
      }
      return correct / (double) labels.length;
    }

    /** How many images were predicted as each class. */
    public int[] histogram() {
      int[] counts = new int[FashionClassifier.CLASSES];
      for (int p : predicted) {
        counts[p]++;
      }
      return counts;
    }
  }

  private Classifier(Path directory) {
    this.directory = directory;
    this.bundle = SavedModelBundle.load(directory.toString(), "serve");
    try {
      this.serving = bundle.function(Signature.DEFAULT_KEY);
      Signature signature = serving.signature();
      checkArgument(
          signature.getInputs().containsKey(ClassifierExport.INPUT)
              && signature.getOutputs().containsKey(ClassifierExport.FEATURES)
              && signature.getOutputs().containsKey(ClassifierExport.LOGITS),
          "%s is not a tfdiffusion classifier: its serving_default takes %s and gives %s; expected"
              + " images -> features, logits (export one with train-classifier)",
          directory,
          signature.getInputs().keySet(),
          signature.getOutputs().keySet());
    } catch (RuntimeException e) {
      bundle.close();
      throw e;
    }
  }

  /**
   * Loads a classifier from a version folder (with saved_model.pb) or a model folder (its highest
   * version).
   *
   * @throws IllegalArgumentException naming the path when it holds no SavedModel
   */
  public static Classifier load(Path path) {
    checkArgument(
        Files.isDirectory(path),
        "classifier %s does not exist; give saved_models/%s (shipped with the repository) or"
            + " train one with: train-classifier",
        path,
        NAME);
    if (Files.isRegularFile(path.resolve("saved_model.pb"))) {
      return new Classifier(path);
    }
    List<Integer> versions = ModelExporter.versions(path);
    checkArgument(
        !versions.isEmpty(),
        "%s holds no SavedModel (no saved_model.pb and no numbered version folder); give"
            + " saved_models/%s or train one with: train-classifier",
        path,
        NAME);
    return new Classifier(path.resolve(String.valueOf(versions.get(versions.size() - 1))));
  }

  /** Loads the shipped classifier found by {@link #locate()}. */
  public static Classifier loadDefault() {
    return load(
        locate()
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        "no saved_models/"
                            + NAME
                            + " in "
                            + Path.of("").toAbsolutePath()
                            + " or any parent folder; run from the repository, give --classifier,"
                            + " or train one with: train-classifier")));
  }

  /** saved_models/fashion-mnist-classifier in the working directory or its nearest parent. */
  public static Optional<Path> locate() {
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      Path candidate = dir.resolve("saved_models").resolve(NAME);
      if (Files.isDirectory(candidate)) {
        return Optional.of(candidate);
      }
    }
    return Optional.empty();
  }

  /** The version folder this classifier was loaded from. */
  public Path directory() {
    return directory;
  }

  /**
   * Embeds {@code n} images, NHWC floats in [-1, 1].
   *
   * @throws IllegalArgumentException if {@code images} does not hold n 28×28×1 images
   */
  public Embedding embed(float[] images, int n) {
    int per =
        FashionClassifier.IMAGE_SIZE * FashionClassifier.IMAGE_SIZE * FashionClassifier.CHANNELS;
    checkArgument(
        images.length == (long) n * per,
        "%s values are not %s images of 28x28x1 (the classifier takes Fashion-MNIST's shape)",
        images.length,
        n);
    double[][] features = new double[n][];
    int[] predicted = new int[n];
    for (int from = 0; from < n; from += BATCH) {
      int count = Math.min(BATCH, n - from);
      float[] chunk = java.util.Arrays.copyOfRange(images, from * per, (from + count) * per);
      try (TFloat32 x =
              TensorIO.floats(
                  Shape.of(
                      count,
                      FashionClassifier.IMAGE_SIZE,
                      FashionClassifier.IMAGE_SIZE,
                      FashionClassifier.CHANNELS),
                  chunk);
          Result r = serving.call(Map.of(ClassifierExport.INPUT, x))) {
        float[] f = TensorIO.toFloats(r.get(ClassifierExport.FEATURES).orElseThrow());
        float[] logits = TensorIO.toFloats(r.get(ClassifierExport.LOGITS).orElseThrow());
        int d = f.length / count;
        int k = logits.length / count;
        for (int i = 0; i < count; i++) {
          double[] row = new double[d];
          for (int j = 0; j < d; j++) {
            row[j] = f[i * d + j];
          }
          features[from + i] = row;
          int best = 0;
          for (int j = 1; j < k; j++) {
            if (logits[i * k + j] > logits[i * k + best]) {
              best = j;
            }
          }
          predicted[from + i] = best;
        }
      }
    }
    return new Embedding(features, predicted);
  }

  /** Embeds images {@code indices} of a 28×28×1 dataset. */
  public Embedding embed(ImageDataset data, int[] indices) {
    checkArgument(
        data.height() == FashionClassifier.IMAGE_SIZE
            && data.width() == FashionClassifier.IMAGE_SIZE
            && data.channels() == FashionClassifier.CHANNELS,
        "the classifier takes 28x28x1 images, %s is not",
        data);
    int per = data.valuesPerImage();
    float[] images = new float[indices.length * per];
    for (int i = 0; i < indices.length; i++) {
      data.copyImage(indices[i], images, i * per, false);
    }
    return embed(images, indices.length);
  }

  /** Embeds every image of a dataset, in order. */
  public Embedding embed(ImageDataset data) {
    int[] all = new int[data.size()];
    for (int i = 0; i < all.length; i++) {
      all[i] = i;
    }
    return embed(data, all);
  }

  @Override
  public void close() {
    bundle.close();
  }
}
