package org.tfdiffusion.cli.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.cli.train.TrainCommand;
import org.tfdiffusion.data.FashionMnistSubset;
import org.tfdiffusion.data.ImageDataset;
import org.tfdiffusion.eval.classifier.Classifier;
import org.tfdiffusion.eval.classifier.FashionClassifier;

class ClassifierTest {

  @Test
  void theShippedClassifierLoadsAndScoresAbove85PercentOnTheEmbeddedSubset() {
    ImageDataset subset = FashionMnistSubset.load();
    try (Classifier classifier = Classifier.loadDefault()) {
      assertThat(classifier.directory().getFileName().toString()).isEqualTo("1");
      Classifier.Embedding e = classifier.embed(subset);
      assertThat(e.features()).hasNumberOfRows(2000);
      assertThat(e.features()[0]).hasSize(FashionClassifier.FEATURES);
      assertThat(e.accuracy(subset.labels().orElseThrow())).isGreaterThan(0.85);
    }
  }

  @Test
  void theShippedClassifierIsSmallEnoughToCommit() throws Exception {
    Path dir = Classifier.locate().orElseThrow().resolve("1");
    long bytes;
    try (Stream<Path> files = Files.walk(dir)) {
      bytes = files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
    }
    assertThat(bytes).isLessThan(2_000_000L);
  }

  @Test
  void trainClassifierExportsAModelThatScoresWhatTrainingMeasured(@TempDir Path dir)
      throws Exception {
    StringWriter out = new StringWriter();
    var cli = TrainCommand.commandLine(new TrainClassifierCommand());
    cli.setOut(new PrintWriter(out, true));
    StringWriter err = new StringWriter();
    cli.setErr(new PrintWriter(err, true));
    int status =
        cli.execute(
            "--data",
            "embedded",
            "--epochs",
            "1",
            "--batch-size",
            "100",
            "--base",
            dir.toString(),
            "--quiet");
    assertThat(status).as(err.toString()).isZero();
    Path model = dir.resolve(Classifier.NAME);
    assertThat(model.resolve("1/saved_model.pb")).exists();
    assertThat(model.resolve("1/assets.extra/classifier.json")).exists();
    JsonNode meta = new ObjectMapper().readTree(model.resolve("classifier.json").toFile());
    assertThat(meta.get("version").asInt()).isEqualTo(1);
    assertThat(meta.get("steps").asLong()).isEqualTo(20);
    assertThat(meta.get("command").asText()).startsWith("train-classifier --data embedded");
    double measured = meta.get("test_accuracy").asDouble();
    assertThat(out.toString()).contains("exported " + model.resolve("1"));

    // the exported SavedModel, loaded anew, classifies the same images as the training graph did
    ImageDataset subset = FashionMnistSubset.load();
    try (Classifier reloaded = Classifier.load(model)) {
      double accuracy = reloaded.embed(subset).accuracy(subset.labels().orElseThrow());
      assertThat(accuracy).isCloseTo(measured, within(1.0 / 1000));
    }
  }

  @Test
  void missingOrForeignModelsAreRefusedWithTheFix(@TempDir Path dir) throws Exception {
    assertThatThrownBy(() -> Classifier.load(dir.resolve("nope")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("does not exist")
        .hasMessageContaining("train-classifier");
    Files.createDirectories(dir.resolve("empty"));
    assertThatThrownBy(() -> Classifier.load(dir.resolve("empty")))
        .hasMessageContaining("holds no SavedModel");
  }

  @Test
  void theNetworkHasTheDocumentedSize() {
    var ledger = FashionClassifier.trace();
    // conv 1->32, 32->64, 64->64 (3x3, with biases), fc 1024->128, 128->10
    long expected =
        (9 * 32 + 32)
            + (9 * 32 * 64 + 64)
            + (9 * 64 * 64 + 64)
            + (1024 * 128 + 128)
            + (128 * 10 + 10);
    assertThat(ledger.parameterCount()).isEqualTo(expected);
  }
}
