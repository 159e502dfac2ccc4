package org.tfdiffusion.cli.eval;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.tfdiffusion.cli.QuietOption;
import org.tfdiffusion.data.ImageDataset;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.eval.FashionMnistData;
import org.tfdiffusion.eval.classifier.Classifier;
import org.tfdiffusion.eval.classifier.ClassifierExport;
import org.tfdiffusion.eval.classifier.ClassifierTrainConfig;
import org.tfdiffusion.eval.classifier.ClassifierTrainer;
import org.tfdiffusion.eval.classifier.FashionClassifier;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.nn.ModelLedger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code train-classifier}: trains and exports the Fashion-MNIST classifier used by eval. */
@Command(
    name = "train-classifier",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Train the Fashion-MNIST classifier whose features eval uses. A small CNN trained "
          + "on the full training split, measured on the 10,000 test images and exported as a "
          + "SavedModel to BASE/NAME/VERSION (the next version) with serving_default: images "
          + "[B,28,28,1] in [-1,1] -> logits, probabilities, features (128-d). The repository "
          + "ships version 1 in saved_models/fashion-mnist-classifier, so eval needs no "
          + "training.",
    })
public final class TrainClassifierCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--data",
      description =
          "A folder with the four Fashion-MNIST IDX files (default: "
              + "/usr/share/datasets/fashion-mnist from apt-get install dataset-fashion-mnist),"
              + " or embedded (2000 images that serve as both splits: smoke tests only).")
  String data;

  @Option(
      names = "--base",
      defaultValue = "saved_models",
      description = "The serving base path (default: ${DEFAULT-VALUE}).")
  Path base;

  @Option(
      names = "--name",
      defaultValue = Classifier.NAME,
      description = "The model name (default: ${DEFAULT-VALUE}).")
  String name;

  @Option(names = "--epochs", description = "Passes over the training split (default: 8).")
  Integer epochs;

  @Option(names = "--batch-size", description = "Images per step (default: 128).")
  Integer batchSize;

  @Option(names = "--lr", description = "Peak AdamW learning rate (default: 2e-3).")
  Double learningRate;

  @Option(names = "--seed", description = "Seed of weights, data order and dropout (default: 0).")
  Long seed;

  @Mixin QuietOption quiet;

  @Override
  public Integer call() {
    ClassifierTrainConfig config = ClassifierTrainConfig.defaults();
    if (epochs != null) {
      config = config.withEpochs(epochs);
    }
    if (batchSize != null) {
      config = config.withBatchSize(batchSize);
    }
    if (learningRate != null) {
      config = config.withLearningRate(learningRate);
    }
    if (seed != null) {
      config = config.withSeed(seed);
    }
    if (!name.matches("[A-Za-z0-9][A-Za-z0-9_.-]*")) {
      throw new IllegalArgumentException(
          "--name '" + name + "' must be letters, digits, '_', '.' or '-' (it becomes a folder)");
    }
    PrintWriter out = spec.commandLine().getOut();
    ImageDataset train = FashionMnistData.load(data, Split.TRAIN);
    ImageDataset test = FashionMnistData.load(data, Split.TEST);
    if (FashionMnistData.embedded(data)) {
      out.println(
          "note: the embedded subset has one split, so training and test images are the same"
              + " 2000 images; the accuracy below is not a test accuracy");
    }
    ModelLedger ledger = FashionClassifier.trace();
    out.printf(
        "classifier: %,d weights, %.1f MFLOP per image%ntrain: %s%ntest:  %s%n",
        ledger.parameterCount(), ledger.flopsPerImage() / 1e6, train, test);
    out.flush();
    ClassifierTrainer.Outcome outcome =
        new ClassifierTrainer(out, !quiet.quiet())
            .train(train, test, config, SessionOptions.defaults());
    Map<String, Object> meta = new LinkedHashMap<>();
    meta.put("name", name);
    meta.put("created_at", Instant.now().toString());
    meta.put("command", CommandLines.describe(spec));
    meta.put("test_accuracy", outcome.testAccuracy());
    meta.put("test_accuracy_by_epoch", outcome.testAccuracyByEpoch());
    meta.put("last_epoch_train_accuracy", outcome.lastEpochTrainAccuracy());
    meta.put("train_data", train.description());
    meta.put("train_images", outcome.trainImages());
    meta.put("test_data", test.description());
    meta.put("test_images", outcome.testImages());
    meta.put("steps", outcome.steps());
    meta.put("training_seconds", Math.round(outcome.seconds() * 10) / 10.0);
    meta.put("parameters", ledger.parameterCount());
    meta.put("flops_per_image", ledger.flopsPerImage());
    meta.put(
        "signature",
        Map.of(
            "input",
            "images float32 [B, 28, 28, 1] in [-1, 1] (x / 127.5 - 1 of 8-bit pixels)",
            "outputs",
            List.of(
                "logits float32 [B, 10]",
                "probabilities float32 [B, 10]",
                "features float32 [B, 128] (penultimate layer, after ReLU)")));
    meta.put("class_names", test.classNames());
    meta.put("config", config);
    meta.put("tensorflow", org.tensorflow.TensorFlow.version());
    Path version = ClassifierExport.export(base.resolve(name), outcome.weights(), meta);
    out.printf(
        "test accuracy %.4f on %d images after %d steps (%.0f s)%nexported %s%n",
        outcome.testAccuracy(), outcome.testImages(), outcome.steps(), outcome.seconds(), version);
    return 0;
  }
}
