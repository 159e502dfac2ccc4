package org.tfdiffusion.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.data.DataSources;
import org.tfdiffusion.data.FitMode;
import org.tfdiffusion.data.ImageDataset;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.ImageSampler;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.SampleGrid;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.SamplerKind;

class ConditioningTest {
  @TempDir Path temp;

  private final StringWriter log = new StringWriter();

  private Trainer trainer() {
    return new Trainer(
        new PrintWriter(log, true), Trainer.Progress.QUIET, SessionOptions.defaults());
  }

  private static TrainConfig conditional(TrainConfig base, double pUncond) {
    return base.withConditioning(new TrainConfig.Conditioning(true, pUncond, 3.0, List.of()));
  }

  @Test
  void labelDropoutReplacesLabelsWithTheNullLabelAtTheRequestedRate() {
    double p = 0.1;
    TrainConfig config =
        conditional(TrainerTest.tiny(1, 0, 1e-3), p)
            .withModel(TrainerTest.tiny(1, 0, 1e-3).model().toBuilder().numClasses(3).build());
    int batch = 64;
    int batches = 100;
    int nulls = 0;
    try (TrainingGraph g = new TrainingGraph(config, TrainingGraph.Options.stepOnly());
        Session s = new Session(g.graph);
        TInt32 labels = TInt32.vectorOf(new int[batch])) {
      for (int i = 0; i < batches; i++) {
        try (TInt64 seed = TInt64.vectorOf(7, i);
            Result r =
                s.runner()
                    .feed(g.labels.get(), labels)
                    .feed(g.seed, seed)
                    .fetch(g.droppedLabels)
                    .run()) {
          for (int l : TensorIO.toInts(r.get(0))) {
            assertThat(l).isIn(0, 3);
            if (l == 3) {
              nulls++;
            }
          }
        }
      }
    }
    int n = batch * batches;
    double rate = nulls / (double) n;
    // 6400 draws: 5 standard errors of a Bernoulli(0.1) mean is 5 * sqrt(0.09 / 6400) = 0.019
    assertThat(rate)
        .isBetween(p - 5 * Math.sqrt(p * (1 - p) / n), p + 5 * Math.sqrt(p * (1 - p) / n));
  }

  @Test
  void fineTuningLoadsMatchingWeightsInitialisesNewOnesAndKeepsFrozenOnesStill() throws Exception {
    TrainConfig parentConfig = TrainerTest.tiny(3, 0, 1e-3);
    Path parent = temp.resolve("parent");
    trainer().train(parent, parentConfig);
    Map<String, float[]> parentEma = emaWeights(parent);

    // an unconditional parent fine-tuned into a conditional child with the down path frozen
    List<String> frozen = FineTuning.PARTS.get("down");
    TrainConfig child =
        conditional(parentConfig, 0.1)
            .withFineTune(
                new TrainConfig.FineTune(parent.toString(), 3, TrainedModel.Weights.EMA, frozen))
            .withTraining(parentConfig.training().withSteps(3));
    Path childRun = temp.resolve("child");
    trainer().train(childRun, child);
    assertThat(log.toString())
        .contains("loaded " + parentEma.size() + " weights, initialised 1")
        .contains("initialised: label_embed.weight [11, 8] (new)");
    TrainConfig saved = RunDirectory.open(childRun).config();
    assertThat(saved.fineTune().parentRun()).isEqualTo(parent.toString());
    assertThat(saved.fineTune().parentStep()).isEqualTo(3);
    assertThat(saved.model().numClasses()).isEqualTo(10);

    Map<String, float[]> childRaw =
        TrainerTest.variables(saved, Checkpoints.resolve(childRun), temp.resolve("tb"));
    int frozenCount = 0;
    int moved = 0;
    for (Map.Entry<String, float[]> e : parentEma.entrySet()) {
      String name = e.getKey();
      if (saved.fineTune().frozen(name)) {
        frozenCount++;
        // loaded from the parent, then never trained: bit for bit the parent's EMA weights
        assertThat(childRaw.get(name)).as(name).containsExactly(e.getValue());
      } else if (!java.util.Arrays.equals(childRaw.get(name), e.getValue())) {
        moved++;
      }
    }
    assertThat(frozenCount).isGreaterThan(10);
    assertThat(moved).as("trainable weights moved by 3 steps").isGreaterThan(10);
    assertThat(childRaw).containsKey("label_embed.weight");
  }

  @Test
  void loadedWeightsEqualTheParentsBeforeAnyStep() throws Exception {
    TrainConfig parentConfig = TrainerTest.tiny(2, 0, 1e-3);
    Path parent = temp.resolve("p");
    trainer().train(parent, parentConfig);
    Map<String, float[]> parentEma = emaWeights(parent);
    TrainConfig child =
        parentConfig.withFineTune(
            new TrainConfig.FineTune(parent.toString(), 2, TrainedModel.Weights.EMA, List.of()));
    try (TrainingGraph g = new TrainingGraph(child, TrainingGraph.Options.stepOnly());
        Session s = new Session(g.graph)) {
      s.initialize();
      FineTuning.Report report = FineTuning.load(g, s, child.fineTune());
      assertThat(report.loaded()).hasSize(parentEma.size());
      assertThat(report.initialized()).isEmpty();
      Session.Runner runner = s.runner();
      List<String> names = new ArrayList<>(g.weights.variables().keySet());
      names.forEach(n -> runner.fetch(g.weights.variables().get(n)));
      names.forEach(n -> runner.fetch(g.ema.shadows().get(n)));
      try (Result r = runner.run()) {
        for (int i = 0; i < names.size(); i++) {
          assertThat(TensorIO.toFloats(r.get(i)))
              .as(names.get(i))
              .containsExactly(parentEma.get(names.get(i)));
          assertThat(TensorIO.toFloats(r.get(names.size() + i)))
              .as("ema " + names.get(i))
              .containsExactly(parentEma.get(names.get(i)));
        }
      }
    }
  }

  @Test
  void aParentCheckpointLoadsThatCheckpointRatherThanTheNewest() throws Exception {
    TrainConfig parentConfig = TrainerTest.tiny(4, 2, 1e-2);
    Path parent = temp.resolve("two-checkpoints");
    trainer().train(parent, parentConfig);
    List<Checkpoints.Checkpoint> checkpoints = Checkpoints.of(parent).list();
    assertThat(checkpoints).extracting(c -> c.state().step()).containsExactly(2L, 4L);
    Map<String, float[]> atStep2 = emaWeights(checkpoints.get(0).dir());
    Map<String, float[]> atStep4 = emaWeights(checkpoints.get(1).dir());
    String someWeight = atStep2.keySet().iterator().next();
    assertThat(atStep2.get(someWeight)).isNotEqualTo(atStep4.get(someWeight));

    TrainConfig child =
        parentConfig.withFineTune(
            new TrainConfig.FineTune(parent.toString(), 2, TrainedModel.Weights.EMA, List.of()));
    try (TrainingGraph g = new TrainingGraph(child, TrainingGraph.Options.stepOnly());
        Session s = new Session(g.graph)) {
      s.initialize();
      FineTuning.load(g, s, child.fineTune());
      Session.Runner runner = s.runner();
      List<String> names = new ArrayList<>(g.weights.variables().keySet());
      names.forEach(n -> runner.fetch(g.weights.variables().get(n)));
      try (Result r = runner.run()) {
        for (int i = 0; i < names.size(); i++) {
          assertThat(TensorIO.toFloats(r.get(i)))
              .as(names.get(i))
              .containsExactly(atStep2.get(names.get(i)));
        }
      }
    }

    // a parent step whose checkpoint is gone is refused with the way out
    TrainConfig gone =
        parentConfig.withFineTune(
            new TrainConfig.FineTune(parent.toString(), 3, TrainedModel.Weights.EMA, List.of()));
    try (TrainingGraph g = new TrainingGraph(gone, TrainingGraph.Options.stepOnly());
        Session s = new Session(g.graph)) {
      s.initialize();
      assertThatThrownBy(() -> FineTuning.load(g, s, gone.fineTune()))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("checkpoint of step 3 is no longer in")
          .hasMessageContaining("finetune --from");
    }
  }

  private static Map<String, float[]> emaWeights(Path run) {
    Map<String, float[]> out = new LinkedHashMap<>();
    try (TrainedModel m =
        TrainedModel.load(run, TrainedModel.Weights.EMA, SessionOptions.defaults(), x -> {})) {
      Session.Runner runner = m.session().runner();
      List<String> names = new ArrayList<>(m.weights().keySet());
      names.forEach(n -> runner.fetch(m.weights().get(n)));
      try (Result r = runner.run()) {
        for (int i = 0; i < names.size(); i++) {
          out.put(names.get(i), TensorIO.toFloats(r.get(i)));
        }
      }
    }
    return out;
  }

  @Test
  void aConditionalRunNeedsLabelledData() throws Exception {
    Path folder = temp.resolve("unlabelled");
    Files.createDirectories(folder);
    ImageDataset data = DataSources.open("embedded");
    for (int i = 0; i < 4; i++) {
      writePng(data, i, folder.resolve("img" + i + ".png"));
    }
    TrainConfig config =
        conditional(TrainerTest.tiny(1, 0, 1e-3), 0.1)
            .withData(new TrainConfig.Data(folder.toString(), Split.TRAIN, FitMode.AUTO, false));
    assertThatThrownBy(() -> trainer().train(temp.resolve("r"), config))
        .hasMessageContaining("has no labels, so it cannot train a class-conditional model");
  }

  /**
   * The end-to-end check: a small conditional model trained on two very different classes
   * (trousers and bags) generates, per requested class, images that the nearest class mean in pixel
   * space assigns to that class far above chance (50%).
   */
  @Test
  void guidedSamplesLookLikeTheRequestedClass() throws Exception {
    ImageDataset data = DataSources.open("embedded");
    Path folder = temp.resolve("two-classes");
    int trouser = 1;
    int bag = 8;
    int h = data.height();
    int per = h * data.width();
    double[][] means = new double[2][per];
    int[] counts = new int[2];
    for (int i = 0; i < data.size(); i++) {
      int label = data.label(i);
      if (label != trouser && label != bag) {
        continue;
      }
      int k = label == trouser ? 0 : 1;
      writePng(data, i, folder.resolve(k == 0 ? "a_trouser" : "b_bag").resolve(i + ".png"));
      float[] pixels = new float[per];
      data.copyImage(i, pixels, 0, false);
      for (int j = 0; j < per; j++) {
        means[k][j] += (pixels[j] + 1) / 2;
      }
      counts[k]++;
    }
    for (int k = 0; k < 2; k++) {
      for (int j = 0; j < per; j++) {
        means[k][j] /= counts[k];
      }
    }
    TrainConfig config =
        new TrainConfig(
            TrainConfig.FORMAT,
            UNetConfig.builder()
                .imageSize(28)
                .channels(1)
                .baseWidth(32)
                .levels(2)
                .normGroups(4)
                .build(),
            TrainConfig.Schedule.tutorial(),
            Prediction.EPSILON,
            new TrainConfig.Data(folder.toString(), Split.TRAIN, FitMode.AUTO, true),
            new TrainConfig.Optimizer(2e-3, 0.9, 0.999, 1e-8, 0.01, 1.0, 20, true, 1e-4),
            new TrainConfig.Ema(0.99, true),
            new TrainConfig.Training(300, 32, 1, 1, 50, 0, 1, 0, 2, SamplerKind.DPMPP, 10),
            new TrainConfig.Conditioning(true, 0.1, 3.0, List.of()),
            TrainConfig.FineTune.none(),
            "two-classes");
    Path run = temp.resolve("two");
    new Trainer(new PrintWriter(log, true), Trainer.Progress.QUIET, SessionOptions.training())
        .train(run, config);
    int n = 16;
    long[] seeds = new long[2 * n];
    int[] labels = new int[2 * n];
    float[] guidance = new float[2 * n];
    for (int i = 0; i < 2 * n; i++) {
      seeds[i] = 100 + i % n;
      labels[i] = i / n;
      guidance[i] = 2f;
    }
    int correct = 0;
    try (ImageSampler sampler =
        ImageSampler.open(
            run,
            TrainedModel.Weights.EMA,
            DpmSolverPlusPlusSampler.of(15),
            false,
            0,
            SessionOptions.defaults())) {
      float[] images = sampler.sample(seeds, labels, guidance, i -> {}).pixels();
      // kept as a test artifact: one row per class
      SampleGrid.of(images, 2 * n, 28, 28, 1, n)
          .writePng(Path.of("target", "two-class-guided-samples.png"));
      for (int i = 0; i < 2 * n; i++) {
        double[] distance = new double[2];
        for (int k = 0; k < 2; k++) {
          for (int j = 0; j < per; j++) {
            double d = images[i * per + j] - means[k][j];
            distance[k] += d * d;
          }
        }
        int predicted = distance[0] <= distance[1] ? 0 : 1;
        if (predicted == labels[i]) {
          correct++;
        }
      }
    }
    double accuracy = correct / (2.0 * n);
    // chance is 0.5; 28 of 32 is far above it (p < 1e-5 under chance)
    assertThat(accuracy)
        .as("nearest-class-mean accuracy of guided samples")
        .isGreaterThanOrEqualTo(0.875);
  }

  private static void writePng(ImageDataset data, int index, Path file) throws Exception {
    Files.createDirectories(file.getParent());
    int h = data.height();
    int w = data.width();
    float[] pixels = new float[h * w * data.channels()];
    data.copyImage(index, pixels, 0, false);
    BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int v = Math.round((pixels[y * w + x] + 1) * 127.5f);
        image.getRaster().setSample(x, y, 0, Math.max(0, Math.min(255, v)));
      }
    }
    ImageIO.write(image, "png", file.toFile());
  }
}
