package org.tfdiffusion.eval.classifier;

import static com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.export.ModelExporter;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.nn.BoundParameters;
import org.tfdiffusion.nn.NetScope;
import org.tfdiffusion.nn.ParameterSpec;

/**
 * Writes trained {@link FashionClassifier} weights as a SavedModel in TensorFlow Serving's layout,
 * {@code MODEL_DIR/VERSION/} (the next integer), with one signature:
 *
 * <pre>
 *   serving_default:  images float32 [B, 28, 28, 1] in [-1, 1]
 *                       → logits float32 [B, 10], probabilities float32 [B, 10],
 *                         features float32 [B, 128] (the penultimate layer, after its ReLU)
 * </pre>
 *
 * The graph holds only the weights and the inference path (no optimizer slots), about 0.8 MB. The
 * model is written into a hidden temporary folder and renamed into place when complete; {@code
 * assets.extra/classifier.json} records how it was trained and what it scored, and a copy goes to
 * {@code MODEL_DIR/classifier.json} (replaced atomically) for the latest version.
 */
public final class ClassifierExport {
  /** The metadata file, under assets.extra/ and next to the versions. */
  public static final String METADATA = "classifier.json";

  /** The signature's input and output names. */
  public static final String INPUT = "images";

  public static final String LOGITS = "logits";
  public static final String PROBABILITIES = "probabilities";
  public static final String FEATURES = "features";

  private static final String TEMP_PREFIX = ".tmp-export-";

  private ClassifierExport() {}

  /**
   * Exports the weights to the next version under {@code modelDir}.
   *
   * @param weights every weight of {@link FashionClassifier#parameterSpecs()}, by name
   * @param metadata what to record in classifier.json (accuracy, command, ...)
   * @return the version folder
   * @throws IllegalArgumentException if a weight is missing or has the wrong size
   */
  public static Path export(Path modelDir, Map<String, float[]> weights, Map<String, ?> metadata) {
    Path temp;
    try {
      Files.createDirectories(modelDir);
      temp = modelDir.resolve(TEMP_PREFIX + System.nanoTime());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + modelDir, e);
    }
    try {
      writeSavedModel(temp, weights);
      Map<String, Object> meta = new LinkedHashMap<>(metadata);
      Path extra = temp.resolve("assets.extra");
      Files.createDirectories(extra);
      int version = nextVersion(modelDir);
      meta.put("version", version);
      json().writeValue(extra.resolve(METADATA).toFile(), meta);
      Path target = moveIntoPlace(temp, modelDir, version);
      meta.put("version", Integer.parseInt(target.getFileName().toString()));
      Path tmpMeta = modelDir.resolve("." + METADATA + ".tmp");
      json().writeValue(tmpMeta.toFile(), meta);
      Files.move(
          tmpMeta,
          modelDir.resolve(METADATA),
          StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.ATOMIC_MOVE);
      return target;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot export to " + modelDir + ": " + e.getMessage(), e);
    } finally {
      deleteQuietly(temp);
    }
  }

  private static void writeSavedModel(Path dir, Map<String, float[]> weights) {
    try (Graph graph = new Graph()) {
      Ops tf = Ops.create(graph);
      Ops init = tf.withSubScope("restore");
      Map<String, Variable<TFloat32>> variables = new LinkedHashMap<>();
      Map<Placeholder<TFloat32>, float[]> feeds = new LinkedHashMap<>();
      List<Op> assigns = new ArrayList<>();
      for (ParameterSpec spec : FashionClassifier.parameterSpecs()) {
        float[] value = weights.get(spec.name());
        checkArgument(value != null, "no trained value for weight %s", spec.name());
        checkArgument(
            value.length == spec.size(),
            "weight %s has %s values, its shape %s needs %s",
            spec.name(),
            value.length,
            spec.shape(),
            spec.size());
        Variable<TFloat32> v = tf.withName(spec.name()).variable(spec.shape(), TFloat32.class);
        Placeholder<TFloat32> p = init.placeholder(TFloat32.class, Placeholder.shape(spec.shape()));
        variables.put(spec.name(), v);
        feeds.put(p, value);
        assigns.add(init.assign(v, p));
      }
      Placeholder<TFloat32> images =
          tf.withName(INPUT)
              .placeholder(
                  TFloat32.class,
                  Placeholder.shape(
                      Shape.of(
                          -1,
                          FashionClassifier.IMAGE_SIZE,
                          FashionClassifier.IMAGE_SIZE,
                          FashionClassifier.CHANNELS)));
      FashionClassifier.Outputs out =
          FashionClassifier.apply(
              NetScope.inference(tf, new BoundParameters(variables)), images, 0);
      Operand<TFloat32> probabilities = tf.nn.softmax(out.logits());
      try (Session session = new Session(graph)) {
        Session.Runner runner = session.runner();
        List<Tensor> tensors = new ArrayList<>();
        try {
          for (Map.Entry<Placeholder<TFloat32>, float[]> f : feeds.entrySet()) {
            Tensor t = TensorIO.floats(f.getKey().shape(), f.getValue());
            tensors.add(t);
            runner.feed(f.getKey(), t);
          }
          assigns.forEach(runner::addTarget);
          runner.run();
        } finally {
          tensors.forEach(Tensor::close);
        }
        SavedModelBundle.exporter(dir.toString())
            .withSession(session)
            .withSignature(
                Signature.builder()
                    .key(Signature.DEFAULT_KEY)
                    .methodName(ModelExporter.PREDICT)
                    .input(INPUT, images)
                    .output(LOGITS, out.logits())
                    .output(PROBABILITIES, probabilities)
                    .output(FEATURES, out.features())
                    .build())
            .export();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write the SavedModel to " + dir, e);
      }
    }
  }

  private static int nextVersion(Path modelDir) {
    List<Integer> existing = ModelExporter.versions(modelDir);
    return existing.isEmpty() ? 1 : existing.get(existing.size() - 1) + 1;
  }

  /** Renames the complete export to {@code version} or, if another export took it, the next. */
  private static Path moveIntoPlace(Path temp, Path modelDir, int version) throws IOException {
    int v = version;
    while (true) {
      Path target = modelDir.resolve(String.valueOf(v));
      try {
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        return target;
      } catch (FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException raced) {
        v = Math.max(v, nextVersion(modelDir));
      }
    }
  }

  static ObjectMapper json() {
    return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  }

  private static void deleteQuietly(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      // a leftover hidden temporary folder is ignored by servers and by Classifier.load
    }
  }
}
