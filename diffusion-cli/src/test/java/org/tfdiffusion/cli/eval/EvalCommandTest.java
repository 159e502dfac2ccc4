package org.tfdiffusion.cli.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.cli.train.DistillCommand;
import org.tfdiffusion.cli.train.TrainCommand;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.eval.FashionMnistData;
import org.tfdiffusion.export.ModelExporter;
import org.tfdiffusion.export.TinyRun;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.testing.NativeOps;

class EvalCommandTest {
  @TempDir static Path dir;
  static Path run;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  /**
   * The shared 2-step run of a tiny class-conditional 28x28x1 model on the embedded data, copied
   * because eval writes its JSON next to the run.
   */
  @BeforeAll
  static void copyTinyRun() throws IOException {
    run = dir.resolve("run");
    Path source = TinyRun.get();
    try (var walk = Files.walk(source)) {
      for (Path p : walk.toList()) {
        Files.copy(p, run.resolve(source.relativize(p).toString()));
      }
    }
  }

  private int eval(String... args) {
    var cli = TrainCommand.commandLine(new EvalCommand());
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  @Test
  void evalOfARunWritesTheFiguresAsJsonNextToTheRun() throws IOException {
    int status =
        eval(
            "--run",
            run.toString(),
            "--n",
            "20",
            "--steps",
            "2",
            "--batch-size",
            "8",
            "--guidance",
            "2",
            "--seed",
            "5",
            "--data",
            "embedded",
            "--kid-subsets",
            "10",
            "--quiet");
    assertThat(status).as(err.toString()).isZero();
    Path file = run.resolve("eval/dpmpp-2-g2-n20-seed5-step2.json");
    assertThat(file).exists();
    assertThat(out.toString()).contains("real train vs test (20)").contains("wrote " + file);
    JsonNode json = new ObjectMapper().readTree(file.toFile());
    assertThat(json.get("sampler").asText()).isEqualTo("dpmpp");
    assertThat(json.get("sampler_detail").asText()).startsWith("dpm-solver++(steps=2");
    assertThat(json.get("steps").asInt()).isEqualTo(2);
    assertThat(json.get("network_evaluations").asInt()).isEqualTo(2);
    assertThat(json.get("guidance").asDouble()).isEqualTo(2.0);
    assertThat(json.get("n").asInt()).isEqualTo(20);
    assertThat(json.get("seed").asLong()).isEqualTo(5);
    assertThat(json.get("test_images").asInt()).isEqualTo(2000);
    assertThat(json.get("class_names").get(9).asText()).isEqualTo("Ankle boot");
    assertThat(json.get("kid").get("subset_size").asInt()).isEqualTo(20);
    for (String part : List.of("generated", "floor")) {
      JsonNode f = json.get(part);
      assertThat(f.get("images").asInt()).as(part).isEqualTo(20);
      assertThat(f.get("fd").asDouble()).as(part).isFinite().isGreaterThanOrEqualTo(0);
      assertThat(f.get("kid_mean").asDouble()).as(part).isFinite();
      assertThat(f.get("kid_std").asDouble()).as(part).isFinite().isGreaterThanOrEqualTo(0);
      double accuracy = f.get("class_accuracy").asDouble();
      assertThat(accuracy).as(part).isBetween(0.0, 1.0);
      int sum = 0;
      for (JsonNode c : f.get("predicted_class_histogram")) {
        sum += c.asInt();
      }
      assertThat(sum).as(part).isEqualTo(20);
    }
    assertThat(json.get("generated").get("seconds_per_1000_images").asDouble()).isPositive();
    // two sampling steps of an untrained model are noise; real images are far closer to the test
    assertThat(json.get("generated").get("fd").asDouble())
        .isGreaterThan(json.get("floor").get("fd").asDouble());
  }

  /** Exports the tiny run's EMA weights as "tiny" (DPM-Solver++ 4 steps) under {@code base}. */
  private static void exportTiny(Path base) throws IOException {
    ModelExporter.export(
        run,
        "tiny",
        base,
        TrainedModel.Weights.EMA,
        DpmSolverPlusPlusSampler.of(4),
        SamplerKind.DPMPP,
        DpmSolverPlusPlusSampler::of,
        () -> {});
  }

  @Test
  void anExportGivesTheSameFiguresAsItsRun() throws IOException {
    Path base = dir.resolve("models");
    exportTiny(base);
    String[] common = {
      "--n",
      "10",
      "--steps",
      "3",
      "--guidance",
      "3",
      "--data",
      "embedded",
      "--kid-subsets",
      "5",
      "--quiet"
    };
    Path runJson = dir.resolve("same-run.json");
    assertThat(
            eval(
                concat(
                    new String[] {"--run", run.toString(), "--out", runJson.toString()}, common)))
        .as(err.toString())
        .isZero();
    assertThat(eval(concat(new String[] {"--model", base.resolve("tiny").toString()}, common)))
        .as(err.toString())
        .isZero();
    Path exportJson = base.resolve("tiny/eval/dpmpp-3-g3-n10-seed0-v1.json");
    assertThat(exportJson).exists();
    JsonNode a = new ObjectMapper().readTree(runJson.toFile()).get("generated");
    JsonNode b = new ObjectMapper().readTree(exportJson.toFile()).get("generated");
    // the same seeds, labels and guidance through the export's sample signature: the same images
    // up to float rounding, so the same figures up to a rare flip of an 8-bit level
    assertThat(b.get("fd").asDouble())
        .isCloseTo(a.get("fd").asDouble(), within(1e-3 * a.get("fd").asDouble()));
    assertThat(b.get("class_accuracy").asDouble()).isEqualTo(a.get("class_accuracy").asDouble());
  }

  /**
   * A sampler the export's signatures do not have samples with the export's weights in this
   * process's graph: the same figures as its run with that sampler, bit for bit (same graph, same
   * weights), and a sweep over an export may list any sampler.
   */
  @Test
  void anExportSamplesWithAnySamplerThroughThisProcesssGraph() throws IOException {
    Path base = dir.resolve("models-any");
    exportTiny(base);
    String[] common = {
      "--n",
      "10",
      "--sampler",
      "ddim",
      "--steps",
      "3",
      "--guidance",
      "3",
      "--data",
      "embedded",
      "--kid-subsets",
      "5",
      "--quiet"
    };
    Path runJson = dir.resolve("any-run.json");
    Path exportJson = dir.resolve("any-export.json");
    assertThat(
            eval(
                concat(
                    new String[] {"--run", run.toString(), "--out", runJson.toString()}, common)))
        .as(err.toString())
        .isZero();
    assertThat(
            eval(
                concat(
                    new String[] {
                      "--model", base.resolve("tiny").toString(), "--out", exportJson.toString()
                    },
                    common)))
        .as(err.toString())
        .isZero();
    JsonNode a = new ObjectMapper().readTree(runJson.toFile());
    JsonNode b = new ObjectMapper().readTree(exportJson.toFile());
    assertThat(b.get("sampler_detail").asText()).startsWith("ddim").contains("this process's");
    assertThat(b.get("generated").get("fd").asDouble())
        .isEqualTo(a.get("generated").get("fd").asDouble());

    Path sweepDir = dir.resolve("any-sweep");
    assertThat(
            eval(
                "--model",
                base.resolve("tiny").toString(),
                "--sweep",
                "--sweep-samplers",
                "ddim-2,euler-2",
                "--sweep-guidance",
                "",
                "--n",
                "4",
                "--data",
                "embedded",
                "--kid-subsets",
                "2",
                "--quiet",
                "--out",
                sweepDir.toString()))
        .as(err.toString())
        .isZero();
    assertThat(Files.readString(sweepDir.resolve("sweep.csv"))).contains("ddim").contains("euler");
  }

  /**
   * --bf16 on an export is not ignored: the export's weights run in this process's bfloat16
   * sampling graph, the same images as its run's under --bf16, other figures than float32's.
   */
  @Test
  void anExportUnderBfloat16SamplesAsItsRunDoesUnderBfloat16() throws IOException {
    NativeOps.assumeNativeConv();
    Path base = dir.resolve("models-bf16");
    exportTiny(base);
    String[] common = {
      "--n",
      "10",
      "--steps",
      "3",
      "--guidance",
      "3",
      "--data",
      "embedded",
      "--kid-subsets",
      "5",
      "--quiet"
    };
    Path runBf16 = dir.resolve("run-bf16.json");
    Path exportBf16 = dir.resolve("export-bf16.json");
    Path exportF32 = dir.resolve("export-f32.json");
    assertThat(
            eval(
                concat(
                    new String[] {"--run", run.toString(), "--bf16", "--out", runBf16.toString()},
                    common)))
        .as(err.toString())
        .isZero();
    String model = base.resolve("tiny").toString();
    assertThat(
            eval(
                concat(
                    new String[] {"--model", model, "--bf16", "--out", exportBf16.toString()},
                    common)))
        .as(err.toString())
        .isZero();
    assertThat(eval(concat(new String[] {"--model", model, "--out", exportF32.toString()}, common)))
        .as(err.toString())
        .isZero();
    ObjectMapper json = new ObjectMapper();
    JsonNode run16 = json.readTree(runBf16.toFile());
    JsonNode export16 = json.readTree(exportBf16.toFile());
    JsonNode export32 = json.readTree(exportF32.toFile());
    assertThat(export16.get("bf16").asBoolean()).isTrue();
    double fd16 = export16.get("generated").get("fd").asDouble();
    assertThat(fd16)
        .isCloseTo(
            run16.get("generated").get("fd").asDouble(), within(1e-3 * Math.abs(fd16) + 1e-9));
    assertThat(fd16)
        .as("bfloat16's figures are not float32's: --bf16 was applied")
        .isNotEqualTo(export32.get("generated").get("fd").asDouble());
  }

  /**
   * The pretrained model that ships in saved_models/fashion-mnist, through its own export
   * signatures (as TensorFlow Serving runs it): at a small N and 10 steps its images are still
   * recognisably the classes asked for, far closer to real images than noise is.
   */
  @Test
  void theShippedModelDrawsTheClassesAskedFor() throws IOException {
    Path shipped = Path.of("..", "saved_models", "fashion-mnist");
    assertThat(shipped.resolve("1").resolve("saved_model.pb")).exists();
    Path json = dir.resolve("shipped.json");
    int status =
        eval(
            "--model",
            shipped.toString(),
            "--n",
            "50",
            "--steps",
            "10",
            "--data",
            "embedded",
            "--kid-subsets",
            "5",
            "--out",
            json.toString(),
            "--quiet");
    assertThat(status).as(err.toString()).isZero();
    JsonNode generated = new ObjectMapper().readTree(json.toFile()).get("generated");
    assertThat(generated.get("class_accuracy").asDouble()).isGreaterThanOrEqualTo(0.9);
    int[] histogram = new int[10];
    int k = 0;
    for (JsonNode c : generated.get("predicted_class_histogram")) {
      histogram[k++] = c.asInt();
    }
    assertThat(histogram).as("every class is drawn").doesNotContain(0);
  }

  @Test
  void aSweepWritesCsvMarkdownJsonAndPlots() throws IOException {
    Path sweep = dir.resolve("sweep");
    int status =
        eval(
            "--run",
            run.toString(),
            "--sweep",
            "--sweep-samplers",
            "ddim-2,dpmpp-2,dpmpp-3",
            "--sweep-guidance",
            "0,2",
            "--steps",
            "2",
            "--n",
            "10",
            "--data",
            "embedded",
            "--kid-subsets",
            "5",
            "--out",
            sweep.toString(),
            "--quiet");
    assertThat(status).as(err.toString()).isZero();
    List<String> csv = Files.readAllLines(sweep.resolve("sweep.csv"));
    assertThat(csv).hasSize(1 + 3 + 2 + 1);
    assertThat(csv.get(0)).startsWith("part,sampler,steps,network_evaluations,guidance,images,fd,");
    assertThat(csv.get(1)).startsWith("sampler,ddim,2,2,3,10,");
    assertThat(csv.get(4)).startsWith("guidance,dpmpp,2,2,0,10,");
    assertThat(csv.get(6)).startsWith("floor,real-train,");
    for (String line : csv) {
      assertThat(line.split(",", -1)).as(line).hasSize(12);
    }
    String md = Files.readString(sweep.resolve("sweep.md"));
    assertThat(md).contains("## Samplers").contains("## Guidance").contains("| ddim | 2 | 3 |");
    JsonNode json = new ObjectMapper().readTree(sweep.resolve("sweep.json").toFile());
    assertThat(json.get("rows")).hasSize(5);
    for (String png : List.of("quality-vs-nfe.png", "guidance.png")) {
      BufferedImage image = ImageIO.read(sweep.resolve(png).toFile());
      assertThat(image.getWidth()).as(png).isEqualTo(1200);
      assertThat(image.getHeight()).as(png).isEqualTo(440);
      assertThat(countColour(image, 0x0072B2)).as(png + ": first series drawn").isGreaterThan(50);
    }
  }

  /**
   * --students adds each round of a distillation as its own line: every student is measured with
   * the sampler and guidance it was distilled for, with exactly the figures of eval on that round
   * alone, and a resumed sweep keeps the students already measured.
   */
  @Test
  void aSweepWithStudentsMeasuresEachRoundAsItSamplesAlone() throws IOException {
    Path distilled = dir.resolve("distilled");
    var distill = TrainCommand.commandLine(new DistillCommand());
    distill.setOut(new PrintWriter(out, true));
    distill.setErr(new PrintWriter(err, true));
    assertThat(
            distill.execute(
                "--from",
                run.toString(),
                "--out",
                distilled.toString(),
                "--steps-start",
                "4",
                "--steps-end",
                "2",
                "--steps-per-round",
                "1",
                "--batch-size",
                "4",
                "--no-xla",
                "--progress",
                "quiet"))
        .as(out + "\n" + err)
        .isZero();
    Path sweep = dir.resolve("sweep-students");
    String[] common = {
      "--run",
      run.toString(),
      "--sweep",
      "--sweep-samplers",
      "ddim-2",
      "--sweep-guidance",
      "",
      "--students",
      distilled.toString(),
      "--n",
      "10",
      "--data",
      "embedded",
      "--kid-subsets",
      "5",
      "--out",
      sweep.toString(),
      "--quiet"
    };
    assertThat(eval(common)).as(err.toString()).isZero();
    List<String> csv = Files.readAllLines(sweep.resolve("sweep.csv"));
    assertThat(csv)
        .as("the teacher's ddim-2, the students of rounds 4 and 2, the floor")
        .hasSize(5);
    assertThat(csv.get(2)).startsWith("student,ddim,4,4,1,10,");
    assertThat(csv.get(3)).startsWith("student,ddim,2,2,1,10,");
    assertThat(Files.readString(sweep.resolve("sweep.md")))
        .contains("## Distilled students")
        .contains("| ddim | 2 | 1 |");
    BufferedImage plot = ImageIO.read(sweep.resolve("quality-vs-nfe.png").toFile());
    assertThat(countColour(plot, 0xD55E00)).as("the students' line is drawn").isGreaterThan(50);

    Path alone = dir.resolve("student-2.json");
    assertThat(
            eval(
                "--run",
                distilled.resolve("round-2").toString(),
                "--n",
                "10",
                "--data",
                "embedded",
                "--kid-subsets",
                "5",
                "--out",
                alone.toString(),
                "--quiet"))
        .as(err.toString())
        .isZero();
    JsonNode single = new ObjectMapper().readTree(alone.toFile());
    assertThat(single.get("sampler").asText()).isEqualTo("ddim");
    assertThat(single.get("guidance").asDouble()).isEqualTo(1.0);
    Path json = sweep.resolve("sweep.json");
    JsonNode student = new ObjectMapper().readTree(json.toFile()).get("rows").get(2);
    assertThat(student.get("part").asText()).isEqualTo("student");
    assertThat(student.get("sampler_detail").asText())
        .isEqualTo(single.get("sampler_detail").asText());
    for (String figure : List.of("fd", "kid_mean", "class_accuracy")) {
      assertThat(student.get(figure).asDouble())
          .as(figure)
          .isEqualTo(single.get("generated").get(figure).asDouble());
    }

    ObjectNode stored = (ObjectNode) new ObjectMapper().readTree(json.toFile());
    for (JsonNode row : stored.get("rows")) {
      ((ObjectNode) row).put("fd", 1234.5);
    }
    new ObjectMapper().writeValue(json.toFile(), stored);
    assertThat(eval(concat(common, new String[] {"--resume"}))).as(err.toString()).isZero();
    for (JsonNode row : new ObjectMapper().readTree(json.toFile()).get("rows")) {
      assertThat(row.get("fd").asDouble()).as("kept, not measured again").isEqualTo(1234.5);
    }

    err.getBuffer().setLength(0);
    assertThat(eval("--run", run.toString(), "--students", distilled.toString(), "--n", "4"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("--students adds distilled students to a sweep");
    err.getBuffer().setLength(0);
    assertThat(
            eval(
                "--run",
                run.toString(),
                "--sweep",
                "--students",
                run.toString(),
                "--data",
                "embedded"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("holds no distillation round");
  }

  /**
   * --resume keeps the rows already in sweep.json (their figures untouched, not measured again),
   * measures only the new settings, keeps stored rows the new list leaves out, and refuses a sweep
   * measured under other settings.
   */
  @Test
  void aResumedSweepMeasuresOnlyWhatIsMissing() throws IOException {
    Path sweep = dir.resolve("sweep-resume");
    String[] common = {
      "--run",
      run.toString(),
      "--sweep",
      "--sweep-guidance",
      "",
      "--n",
      "10",
      "--data",
      "embedded",
      "--kid-subsets",
      "5",
      "--out",
      sweep.toString(),
      "--quiet"
    };
    assertThat(eval(concat(common, new String[] {"--sweep-samplers", "ddim-2,euler-2"})))
        .as(err.toString())
        .isZero();
    // mark the stored rows: a resumed sweep that measured them again would overwrite the mark
    Path json = sweep.resolve("sweep.json");
    ObjectNode stored = (ObjectNode) new ObjectMapper().readTree(json.toFile());
    for (JsonNode row : stored.get("rows")) {
      ((ObjectNode) row).put("fd", 1234.5);
    }
    new ObjectMapper().writeValue(json.toFile(), stored);

    assertThat(
            eval(concat(common, new String[] {"--sweep-samplers", "euler-2,heun-2", "--resume"})))
        .as(err.toString())
        .isZero();
    JsonNode rows = new ObjectMapper().readTree(json.toFile()).get("rows");
    assertThat(rows).hasSize(3);
    assertThat(rows.get(0).get("sampler").asText()).isEqualTo("euler");
    assertThat(rows.get(0).get("fd").asDouble()).as("kept, not measured again").isEqualTo(1234.5);
    assertThat(rows.get(1).get("sampler").asText()).isEqualTo("heun");
    assertThat(rows.get(1).get("fd").asDouble()).as("measured").isNotEqualTo(1234.5);
    assertThat(rows.get(2).get("sampler").asText()).as("not listed, kept").isEqualTo("ddim");
    assertThat(Files.readString(sweep.resolve("sweep.md")))
        .contains("| heun |")
        .contains("| ddim |");

    String[] otherN = common.clone();
    otherN[java.util.Arrays.asList(otherN).indexOf("--n") + 1] = "12";
    err.getBuffer().setLength(0);
    assertThat(eval(concat(otherN, new String[] {"--sweep-samplers", "euler-2", "--resume"})))
        .isEqualTo(2);
    assertThat(err.toString()).contains("was measured with other settings").contains("n 10 there");
    err.getBuffer().setLength(0);
    assertThat(eval("--run", run.toString(), "--resume", "--n", "4", "--data", "embedded"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("--resume continues a sweep");
  }

  @Test
  void modelsTheClassifierCannotJudgeAreRefused() throws IOException {
    Path big = copyRunWithConfig("big", c -> ((ObjectNode) c.get("model")).put("imageSize", 32));
    assertThat(eval("--run", big.toString(), "--n", "4", "--data", "embedded")).isEqualTo(2);
    assertThat(err.toString())
        .contains("takes 28x28x1 images")
        .contains("this model makes 32x32x1 images");
    err.getBuffer().setLength(0);
    Path unconditional =
        copyRunWithConfig(
            "uncond",
            c -> {
              ((ObjectNode) c.get("model")).put("numClasses", 0);
              ((ObjectNode) c.get("conditioning")).put("enabled", false);
              ((ObjectNode) c.get("conditioning")).putArray("classNames");
            });
    assertThat(eval("--run", unconditional.toString(), "--guidance", "2", "--data", "embedded"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("unconditional").contains("no --guidance");
  }

  @Test
  void missingDataNamesTheInstallCommand() {
    assertThatThrownBy(
            () -> FashionMnistData.load(null, Split.TEST, dir.resolve("no-such-datasets")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("apt-get install dataset-fashion-mnist")
        .hasMessageContaining("--data");
    assertThatThrownBy(() -> FashionMnistData.load(dir.resolve("nothing").toString(), Split.TEST))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no such file or folder");
  }

  private static Path copyRunWithConfig(String name, java.util.function.Consumer<JsonNode> edit)
      throws IOException {
    Path copy = dir.resolve(name);
    try (Stream<Path> walk = Files.walk(run)) {
      for (Path p : walk.toList()) {
        Path target = copy.resolve(run.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target);
        }
      }
    }
    ObjectMapper mapper = new ObjectMapper();
    JsonNode config = mapper.readTree(copy.resolve("config.json").toFile());
    edit.accept(config);
    mapper.writeValue(copy.resolve("config.json").toFile(), config);
    return copy;
  }

  private static int countColour(BufferedImage image, int rgb) {
    int count = 0;
    for (int y = 0; y < image.getHeight(); y++) {
      for (int x = 0; x < image.getWidth(); x++) {
        if ((image.getRGB(x, y) & 0xFFFFFF) == rgb) {
          count++;
        }
      }
    }
    return count;
  }

  private static String[] concat(String[] a, String[] b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
