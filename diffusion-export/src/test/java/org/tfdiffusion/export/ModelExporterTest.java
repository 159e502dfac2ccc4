package org.tfdiffusion.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.run.ImageSampler;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.DdimSampler;
import org.tfdiffusion.sampling.DeisSampler;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.HeunSampler;
import org.tfdiffusion.sampling.LmsSampler;
import org.tfdiffusion.sampling.PndmSampler;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.sampling.UniPcSampler;

class ModelExporterTest {
  @TempDir static Path dir;
  static Path run;

  /** A 2-step run of a tiny class-conditional model on the embedded data (shared). */
  @BeforeAll
  static void train() {
    run = TinyRun.get();
  }

  private static ModelExporter.Exported export(Path base, Runnable beforeRename) {
    return ModelExporter.export(
        run,
        "fashion",
        base,
        TrainedModel.Weights.EMA,
        DpmSolverPlusPlusSampler.of(4),
        SamplerKind.DPMPP,
        DpmSolverPlusPlusSampler::of,
        beforeRename);
  }

  @Test
  void aLoadedExportGivesTheSameImagesAsSamplingInProcess() throws Exception {
    Path base = dir.resolve("same");
    ModelExporter.Exported exported = export(base, () -> {});
    long[] seeds = {3, 11, 3};
    int[] labels = {1, 8, 9};
    float[] guidance = {3f, 1f, 0f};
    float[] expected;
    try (ImageSampler sampler =
        ImageSampler.open(
            run,
            TrainedModel.Weights.EMA,
            DpmSolverPlusPlusSampler.of(4),
            false,
            0,
            SessionOptions.defaults())) {
      expected = sampler.sample(seeds, labels, guidance, i -> {}).pixels();
    }
    try (SavedModelBundle bundle = SavedModelBundle.load(exported.directory().toString(), "serve");
        TInt64 s = TensorIO.longs(seeds);
        TInt32 l = TInt32.vectorOf(labels);
        TFloat32 w = TFloat32.vectorOf(guidance);
        Result r =
            bundle
                .function("serving_default")
                .call(Map.of("seed", s, "class_label", l, "guidance_scale", w))) {
      float[] images = TensorIO.toFloats(r.get("images").orElseThrow());
      assertThat(images).hasSameSizeAs(expected);
      double maxDiff = 0;
      for (int i = 0; i < images.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(images[i] - expected[i]));
      }
      assertThat(maxDiff).isLessThanOrEqualTo(1e-5);
      TString png = (TString) r.get("images_png_bytes").orElseThrow();
      assertThat(png.shape()).isEqualTo(Shape.of(3));
      BufferedImage decoded = ImageIO.read(new ByteArrayInputStream(png.asBytes().getObject(0)));
      assertThat(decoded.getWidth()).isEqualTo(28);
      assertThat(decoded.getHeight()).isEqualTo(28);
      // the PNG holds the same pixels as the float output, rounded to 8 bits
      int p = decoded.getRaster().getSample(10, 12, 0);
      assertThat(p)
          .isCloseTo(
              Math.round(images[12 * 28 + 10] * 255), org.assertj.core.data.Offset.offset(1));
    }
  }

  @Test
  void signaturesHaveTheDocumentedNamesTypesAndShapes() throws Exception {
    ModelExporter.Exported exported = export(dir.resolve("sigs"), () -> {});
    try (SavedModelBundle bundle =
        SavedModelBundle.load(exported.directory().toString(), "serve")) {
      Map<String, Signature> byKey = new java.util.HashMap<>();
      bundle.signatures().forEach(s -> byKey.put(s.key(), s));
      assertThat(byKey.keySet()).contains("serving_default", "sample", "denoise");
      Signature serving = byKey.get("serving_default");
      assertThat(serving.methodName()).isEqualTo("tensorflow/serving/predict");
      assertThat(serving.getInputs().keySet())
          .containsExactlyInAnyOrder("seed", "class_label", "guidance_scale");
      assertThat(serving.getInputs().get("seed").dataType).isEqualTo(DataType.DT_INT64);
      assertThat(serving.getInputs().get("seed").shape.asArray()).containsExactly(-1);
      assertThat(serving.getInputs().get("class_label").dataType).isEqualTo(DataType.DT_INT32);
      assertThat(serving.getInputs().get("guidance_scale").dataType).isEqualTo(DataType.DT_FLOAT);
      assertThat(serving.getOutputs().get("images").shape.asArray()).containsExactly(-1, 28, 28, 1);
      assertThat(serving.getOutputs().get("images_png_bytes").dataType)
          .isEqualTo(DataType.DT_STRING);
      assertThat(byKey.get("sample").getInputs()).containsKey("num_steps");
      assertThat(byKey.get("sample").getInputs().get("num_steps").shape.asArray()).isEmpty();
      assertThat(byKey.get("denoise").getInputs().keySet())
          .containsExactlyInAnyOrder("x_t", "t", "class_label");
      assertThat(byKey.get("denoise").getOutputs().get("eps").shape.asArray())
          .containsExactly(-1, 28, 28, 1);
    }
    JsonNode meta =
        new ObjectMapper()
            .readTree(exported.directory().resolve("assets.extra/tfdiffusion.json").toFile());
    assertThat(meta.get("training_step").asLong()).isEqualTo(2);
    assertThat(meta.get("steps").asInt()).isEqualTo(4);
    assertThat(meta.get("sampler").asText()).startsWith("dpm-solver++(steps=4");
    assertThat(meta.get("weights").asText()).isEqualTo("ema");
    assertThat(meta.get("sampler_kind").asText()).isEqualTo("dpmpp");
    assertThat(meta.get("max_steps").asInt())
        .isEqualTo(org.tfdiffusion.run.ExportMetadata.MAX_FEW_STEPS);
    assertThat(meta.get("class_names").get(8).asText()).isEqualTo("Bag");
    assertThat(meta.get("config").get("model").get("numClasses").asInt()).isEqualTo(10);
  }

  @Test
  void theSampleSignatureTakesTheStepsPerRequest() throws Exception {
    ModelExporter.Exported exported = export(dir.resolve("steps"), () -> {});
    long[] seeds = {5};
    float[] expected;
    try (ImageSampler sampler =
        ImageSampler.open(
            run,
            TrainedModel.Weights.EMA,
            DpmSolverPlusPlusSampler.of(7),
            false,
            0,
            SessionOptions.defaults())) {
      expected = sampler.sample(seeds, new int[] {2}, new float[] {2f}, i -> {}).pixels();
    }
    try (SavedModelBundle bundle = SavedModelBundle.load(exported.directory().toString(), "serve");
        TInt64 s = TensorIO.longs(seeds);
        TInt32 l = TInt32.vectorOf(2);
        TFloat32 w = TFloat32.vectorOf(2f);
        TInt32 n = TInt32.scalarOf(7);
        Result r =
            bundle
                .function("sample")
                .call(Map.of("seed", s, "class_label", l, "guidance_scale", w, "num_steps", n))) {
      float[] images = TensorIO.toFloats(r.get("images").orElseThrow());
      for (int i = 0; i < images.length; i++) {
        assertThat(images[i]).isCloseTo(expected[i], org.assertj.core.data.Offset.offset(1e-5f));
      }
    }
    try (SavedModelBundle bundle = SavedModelBundle.load(exported.directory().toString(), "serve");
        TInt64 s = TensorIO.longs(seeds);
        TInt32 l = TInt32.vectorOf(2);
        TFloat32 w = TFloat32.vectorOf(2f);
        TInt32 n = TInt32.scalarOf(101)) {
      assertThatThrownBy(
              () ->
                  bundle
                      .function("sample")
                      .call(
                          Map.of("seed", s, "class_label", l, "guidance_scale", w, "num_steps", n))
                      .close())
          .hasMessageContaining("num_steps must be in [1, 100]");
    }
  }

  @Test
  void versionsCountUpAndAnInterruptedExportLeavesNoVersion() throws Exception {
    Path base = dir.resolve("versions");
    assertThat(export(base, () -> {}).version()).isEqualTo(1);
    assertThat(export(base, () -> {}).version()).isEqualTo(2);
    assertThatThrownBy(
            () ->
                export(
                    base,
                    () -> {
                      throw new IllegalStateException("simulated crash before the rename");
                    }))
        .hasMessageContaining("simulated crash");
    try (var entries = Files.list(base.resolve("fashion"))) {
      assertThat(entries.map(p -> p.getFileName().toString()).sorted().toList())
          .containsExactly("1", "2");
    }
    assertThat(ModelExporter.versionNumbers(base.resolve("fashion"))).containsExactly(1L, 2L);
    assertThat(Files.readString(base.resolve("models.config")))
        .contains("name: \"fashion\"")
        .contains("base_path: \"/models/fashion\"");
  }

  /**
   * Versions are 64-bit, as in TensorFlow Serving: a timestamp-sized version (which serve accepts)
   * is followed by the next number, and does not break exports of other models into the base; a
   * killed export's temporary folder is removed by the next one.
   */
  @Test
  void timestampVersionsAreVersionsAndKilledExportsAreCleanedUp() throws Exception {
    Path base = dir.resolve("timestamps");
    long timestamp = 1_733_330_000_000L;
    Files.createDirectories(base.resolve("other").resolve(String.valueOf(timestamp)));
    Path fashion = Files.createDirectories(base.resolve("fashion"));
    Files.createDirectories(fashion.resolve(String.valueOf(timestamp)));
    Path killed =
        Files.createDirectories(
            fashion.resolve(".tmp-export-" + ModelExporter.hostName() + "-999999999-1"));
    Files.writeString(killed.resolve("saved_model.pb"), "half a model");

    ModelExporter.Exported exported = export(base, () -> {});

    assertThat(exported.version()).isEqualTo(timestamp + 1);
    assertThat(ModelExporter.versionNumbers(fashion)).containsExactly(timestamp, timestamp + 1);
    assertThat(killed).doesNotExist();
    try (var entries = Files.list(fashion)) {
      assertThat(entries.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith("."));
    }
    assertThat(Files.readString(base.resolve("models.config")))
        .contains("name: \"fashion\"")
        .contains("name: \"other\"");
  }

  /**
   * Heun's plan for N noise levels runs 2N - 1 model evaluations: the sample signature finds plan N
   * in its table by the plans' own lengths.
   */
  @Test
  void heunsSampleSignatureRunsTheChosenPlanOfTwoNMinusOneEvaluations() throws Exception {
    assertTheSampleSignatureDrawsPlan("heun", SamplerKind.HEUN, HeunSampler::of, 2, 3);
  }

  /**
   * UniPC's plans use the model outputs of the two steps before (its correction): the exported
   * table, with N chosen per request, draws what the sampler draws directly.
   */
  @Test
  void uniPcSampleSignatureRunsTheChosenPlanWithItsTwoStepHistory() throws Exception {
    assertTheSampleSignatureDrawsPlan("unipc", SamplerKind.UNIPC, UniPcSampler::of, 3, 4);
  }

  /**
   * LMS's plans use the model outputs of the three steps before (order 4): the exported table, with
   * N chosen per request, draws what the sampler draws directly.
   */
  @Test
  void lmsSampleSignatureRunsTheChosenPlanWithItsThreeStepHistory() throws Exception {
    assertTheSampleSignatureDrawsPlan("lms", SamplerKind.LMS, LmsSampler::of, 4, 5);
  }

  /**
   * PNDM's plan for N steps runs N + 1 model evaluations, its Heun step passing the first output
   * on: the sample signature finds plan N in its table and draws what the sampler draws directly.
   */
  @Test
  void pndmSampleSignatureRunsTheChosenPlanOfNPlusOneEvaluations() throws Exception {
    assertTheSampleSignatureDrawsPlan("pndm", SamplerKind.PNDM, PndmSampler::of, 4, 5);
  }

  /**
   * DEIS at third order uses the ε̂ of the two steps before: the sample signature finds plan N in
   * its table and draws what the sampler draws directly.
   */
  @Test
  void deisSampleSignatureRunsTheChosenThirdOrderPlan() throws Exception {
    assertTheSampleSignatureDrawsPlan(
        "deis", SamplerKind.DEIS, n -> DeisSampler.of(n).withOrder(3), 4, 5);
  }

  /**
   * Exports the run with the plan of {@code exportedSteps}, then asks its sample signature for
   * {@code requestedSteps}: the images must be those the sampler of that many steps draws directly.
   */
  private void assertTheSampleSignatureDrawsPlan(
      String name,
      SamplerKind kind,
      java.util.function.IntFunction<? extends org.tfdiffusion.sampling.Sampler> sampler,
      int exportedSteps,
      int requestedSteps)
      throws Exception {
    ModelExporter.Exported exported =
        ModelExporter.export(
            run,
            name,
            dir.resolve(name),
            TrainedModel.Weights.EMA,
            sampler.apply(exportedSteps),
            kind,
            sampler::apply,
            () -> {});
    long[] seeds = {5};
    float[] expected;
    try (ImageSampler direct =
        ImageSampler.open(
            run,
            TrainedModel.Weights.EMA,
            sampler.apply(requestedSteps),
            false,
            0,
            SessionOptions.defaults())) {
      expected = direct.sample(seeds, new int[] {2}, new float[] {2f}, i -> {}).pixels();
    }
    try (SavedModelBundle bundle = SavedModelBundle.load(exported.directory().toString(), "serve");
        TInt64 s = TensorIO.longs(seeds);
        TInt32 l = TInt32.vectorOf(2);
        TFloat32 w = TFloat32.vectorOf(2f);
        TInt32 n = TInt32.scalarOf(requestedSteps);
        Result r =
            bundle
                .function("sample")
                .call(Map.of("seed", s, "class_label", l, "guidance_scale", w, "num_steps", n))) {
      float[] images = TensorIO.toFloats(r.get("images").orElseThrow());
      for (int i = 0; i < images.length; i++) {
        assertThat(images[i]).isCloseTo(expected[i], org.assertj.core.data.Offset.offset(1e-5f));
      }
    }
  }

  @Test
  void ddimExportsTakeEtaPerRequest() throws Exception {
    ModelExporter.Exported exported =
        ModelExporter.export(
            run,
            "ddim",
            dir.resolve("ddim"),
            TrainedModel.Weights.EMA,
            DdimSampler.of(5, 0),
            SamplerKind.DDIM,
            n -> DdimSampler.of(n, 0),
            () -> {});
    try (SavedModelBundle bundle =
        SavedModelBundle.load(exported.directory().toString(), "serve")) {
      Signature sample =
          bundle.signatures().stream()
              .filter(s -> s.key().equals("sample"))
              .findFirst()
              .orElseThrow();
      assertThat(sample.getInputs()).containsKeys("num_steps", "eta");
    }
  }
}
