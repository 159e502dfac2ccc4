package org.tfdiffusion.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class SampleCommandTest {
  @TempDir static Path dir;
  static Path run;
  static Path conditionalRun;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  /**
   * {@code sample} of the tiny run with 5 DDIM steps at eta 1, {@code n} images from {@code seed}.
   */
  private int ddimEta1(int seed, int n, Path out, String... more) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "sample",
                "--run",
                run.toString(),
                "--sampler",
                "ddim",
                "--steps",
                "5",
                "--eta",
                "1",
                "--seed",
                String.valueOf(seed),
                "-n",
                String.valueOf(n),
                "--out",
                out.toString()));
    args.addAll(List.of(more));
    return run(args.toArray(String[]::new));
  }

  /**
   * A 3-step run of a tiny model on the embedded data, on the linear noise schedule: the loops
   * agree below to one 8-bit level in a few pixels there; on the demo's cosine schedule, whose last
   * βs reach 0.999, DDPM's respaced steps amplify float rounding further.
   */
  @BeforeAll
  static void train() {
    run = dir.resolve("run");
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(new StringWriter()));
    int status =
        cli.execute(
            "train",
            "--preset",
            "demo",
            "--schedule",
            "linear",
            "--steps",
            "3",
            "--base-width",
            "8",
            "--levels",
            "2",
            "--batch-size",
            "8",
            "--run-dir",
            run.toString(),
            "--quiet",
            "--no-xla",
            "--sample-every",
            "0",
            "--sample-count",
            "1",
            "--no-conditional");
    assertThat(status).isZero();
    conditionalRun = dir.resolve("conditional");
    CommandLine again = Main.commandLine();
    again.setOut(new PrintWriter(new StringWriter()));
    assertThat(
            again.execute(
                "train",
                "--preset",
                "demo",
                "--schedule",
                "linear",
                "--steps",
                "2",
                "--base-width",
                "8",
                "--levels",
                "2",
                "--batch-size",
                "8",
                "--run-dir",
                conditionalRun.toString(),
                "--quiet",
                "--no-xla",
                "--sample-every",
                "0",
                "--sample-count",
                "10",
                "--conditional"))
        .isZero();
  }

  @Test
  void theSameSeedGivesTheSameFile() throws Exception {
    Path a = dir.resolve("a.png");
    Path b = dir.resolve("b.png");
    assertThat(
            run(
                "sample",
                "--run",
                run.toString(),
                "--steps",
                "4",
                "--seed",
                "7",
                "-n",
                "3",
                "--out",
                a.toString()))
        .as(err.toString())
        .isZero();
    assertThat(
            run(
                "sample",
                "--run",
                run.toString(),
                "--steps",
                "4",
                "--seed",
                "7",
                "-n",
                "3",
                "--out",
                b.toString()))
        .isZero();
    // one algorithm in two graphs: XLA fuses the While body's ops otherwise than a single forward
    // pass's, so a float rounds differently now and then and moves a pixel by one 8-bit level
    PixelDifference d = PixelDifference.of(a, b);
    assertThat(d.largest()).as("largest pixel difference (of 255)").isLessThanOrEqualTo(1);
    assertThat(d.differing()).as("pixels that differ (%s)", d).isLessThan(d.pixels() / 200);
    assertThat(out.toString()).contains("sampled 3 images").contains("dpm-solver++(steps=4");
  }

  @Test
  void everySamplerNameSamples() throws Exception {
    String[][] samplers = {
      {"euler", "--sigmas", "karras"},
      {"euler-ancestral", "--spacing", "trailing"},
      {"heun", "--sigmas", "exponential"},
      {"dpmpp-sde", "--final-sigma", "sigma_min", "--lower-order-final", "false"},
      {"dpmpp", "--order", "3"},
      {"dpm-solver", "--order", "3"},
      {"unipc", "--unipc-variant", "bh1"},
      {"lms", "--sigmas", "karras"},
      {"pndm", "--steps-offset", "1"},
      {"deis", "--order", "3", "--sigmas", "karras"}
    };
    for (String[] sampler : samplers) {
      Path png = dir.resolve(sampler[0] + ".png");
      String[] args = {
        "sample",
        "--run",
        run.toString(),
        "--steps",
        "3",
        "-n",
        "2",
        "--out",
        png.toString(),
        "--sampler"
      };
      String[] all = java.util.Arrays.copyOf(args, args.length + sampler.length);
      System.arraycopy(sampler, 0, all, args.length, sampler.length);
      assertThat(run(all)).as(err.toString()).isZero();
      assertThat(png).exists();
    }
    assertThat(out.toString())
        .contains("euler(steps=3, spacing=linspace, sigmas=karras)")
        .contains("euler-ancestral(steps=3, spacing=trailing")
        .contains("heun(steps=3")
        .contains("sde-dpm-solver++(steps=3")
        .contains("dpm-solver++(steps=3, order=3")
        .contains("dpm-solver(steps=3, order=3")
        .contains("unipc(steps=3, order=2, variant=bh1")
        .contains("lms(steps=3, order=4, spacing=linspace, sigmas=karras)")
        .contains("pndm(steps=3, spacing=leading, offset=1, final_alpha=alpha_bar_0)")
        .contains("deis(steps=3, order=3, spacing=linspace, sigmas=karras)");
  }

  @Test
  void xlaByDefaultAndThePlainRuntimeDrawTheSameImagesUpToRounding() throws Exception {
    // XLA is the default; the noise stays in TensorFlow's kernels (XLA has none for its op), the
    // model's arithmetic is reassociated, so the 8-bit images may differ by a step of rounding
    // here and there, never by a different draw
    Path xla = dir.resolve("xla.png");
    Path plain = dir.resolve("plain.png");
    assertThat(ddimEta1(3, 4, xla)).as(err.toString()).isZero();
    assertThat(ddimEta1(3, 4, plain, "--no-xla")).as(err.toString()).isZero();
    PixelDifference d = PixelDifference.of(xla, plain);
    assertThat(d.largest()).as("largest pixel difference (of 255)").isLessThanOrEqualTo(4);
    assertThat(d.differing()).as("pixels that differ").isLessThan(d.pixels() / 20);
  }

  /** How two 8-bit grey PNGs of one size differ: the largest difference, the pixels that do. */
  record PixelDifference(int largest, long differing, long pixels) {
    static PixelDifference of(Path first, Path second) throws java.io.IOException {
      BufferedImage a = ImageIO.read(first.toFile());
      BufferedImage b = ImageIO.read(second.toFile());
      assertThat(b.getWidth()).isEqualTo(a.getWidth());
      assertThat(b.getHeight()).isEqualTo(a.getHeight());
      int max = 0;
      long differing = 0;
      for (int y = 0; y < a.getHeight(); y++) {
        for (int x = 0; x < a.getWidth(); x++) {
          int d = Math.abs((a.getRGB(x, y) & 0xff) - (b.getRGB(x, y) & 0xff));
          max = Math.max(max, d);
          differing += d > 0 ? 1 : 0;
        }
      }
      return new PixelDifference(max, differing, (long) a.getWidth() * a.getHeight());
    }
  }

  @Test
  void anImageDependsOnItsSeedNotOnTheBatch() throws Exception {
    Path many = dir.resolve("many");
    Path one = dir.resolve("one");
    assertThat(ddimEta1(10, 3, dir.resolve("m.png"), "--out-dir", many.toString()))
        .as(err.toString())
        .isZero();
    assertThat(ddimEta1(12, 1, dir.resolve("o.png"), "--out-dir", one.toString())).isZero();
    assertThat(Files.readAllBytes(one.resolve("seed-12.png")))
        .isEqualTo(Files.readAllBytes(many.resolve("seed-12.png")));
    assertThat(Files.readAllBytes(many.resolve("seed-10.png")))
        .isNotEqualTo(Files.readAllBytes(many.resolve("seed-12.png")));
  }

  /**
   * Requests beyond one batch are drawn in batches with the same images; requests beyond what one
   * command draws are refused before anything is allocated.
   */
  @Test
  void largeRequestsAreDrawnInBatchesAndHugeOnesRefused() throws Exception {
    Path all = dir.resolve("batched");
    Path last = dir.resolve("last");
    int n = SampleCommand.BATCH + 2;
    assertThat(ddimEta1(0, n, dir.resolve("b.png"), "--out-dir", all.toString()))
        .as(err.toString())
        .isZero();
    assertThat(ddimEta1(n - 3, 3, dir.resolve("l.png"), "--out-dir", last.toString())).isZero();
    for (int seed = n - 3; seed < n; seed++) { // across the batch boundary
      assertThat(Files.readAllBytes(last.resolve("seed-" + seed + ".png")))
          .as("seed %s", seed)
          .isEqualTo(Files.readAllBytes(all.resolve("seed-" + seed + ".png")));
    }
    try (var files = Files.list(all)) {
      assertThat(files.count()).isEqualTo(n);
    }

    for (String huge : new String[] {"2147483647", "100000", "10001"}) {
      err.getBuffer().setLength(0);
      assertThat(run("sample", "--run", run.toString(), "-n", huge)).isEqualTo(2);
      assertThat(err.toString().lines().toList())
          .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
          .contains("--n " + huge + " asks for " + huge + " images")
          .contains("at most " + SampleCommand.MAX_IMAGES);
    }
    err.getBuffer().setLength(0);
    assertThat(run("sample", "--run", conditionalRun.toString(), "-n", "1001")).isEqualTo(2);
    assertThat(err.toString()).contains("asks for 10010 images (10 classes x 1001)");
  }

  @Test
  void theHostLoopDrawsTheCompiledLoopsImagesUpToRounding() throws Exception {
    Path a = dir.resolve("compiled.png");
    Path b = dir.resolve("host.png");
    assertThat(
            run(
                "sample",
                "--run",
                run.toString(),
                "--sampler",
                "ddpm",
                "--steps",
                "6",
                "-n",
                "2",
                "--out",
                a.toString()))
        .isZero();
    assertThat(
            run(
                "sample",
                "--run",
                run.toString(),
                "--sampler",
                "ddpm",
                "--steps",
                "6",
                "-n",
                "2",
                "--out",
                b.toString(),
                "--loop",
                "host"))
        .isZero();
    // one algorithm in two graphs: XLA fuses the While body's ops otherwise than a single forward
    // pass's, so a float rounds differently now and then and moves a pixel by one 8-bit level
    PixelDifference d = PixelDifference.of(a, b);
    assertThat(d.largest()).as("largest pixel difference (of 255)").isLessThanOrEqualTo(1);
    assertThat(d.differing()).as("pixels that differ (%s)", d).isLessThan(d.pixels() / 200);
  }

  @Test
  void conditionalModelsSampleOneRowPerRequestedClass() throws Exception {
    Path grid = dir.resolve("classes.png");
    Path each = dir.resolve("classes");
    assertThat(
            run(
                "sample",
                "--run",
                conditionalRun.toString(),
                "--steps",
                "3",
                "-n",
                "2",
                "--class",
                "Trouser,8",
                "--guidance",
                "2",
                "--out",
                grid.toString(),
                "--out-dir",
                each.toString(),
                "--scale",
                "1"))
        .as(err.toString())
        .isZero();
    assertThat(out.toString()).contains("sampled 4 images, one row per class, guidance 2.0");
    assertThat(each.resolve("class-1-seed-0.png")).exists();
    assertThat(each.resolve("class-8-seed-1.png")).exists();
    // the same seed under two classes gives two different images
    assertThat(Files.readAllBytes(each.resolve("class-1-seed-0.png")))
        .isNotEqualTo(Files.readAllBytes(each.resolve("class-8-seed-0.png")));
    java.awt.image.BufferedImage image = javax.imageio.ImageIO.read(grid.toFile());
    // 2 rows of 2 images of 28 pixels with 2-pixel borders, the class names in a left margin
    assertThat(image.getHeight()).isEqualTo(2 * 28 + 3 * 2);
    assertThat(image.getWidth()).isGreaterThan(2 * 28 + 3 * 2 + "Trouser".length() * 6);
    // by default the cells are upscaled to at least 56 pixels
    Path big = dir.resolve("classes-big.png");
    assertThat(
            run(
                "sample",
                "--run",
                conditionalRun.toString(),
                "--steps",
                "3",
                "-n",
                "2",
                "--class",
                "Trouser,8",
                "--out",
                big.toString()))
        .as(err.toString())
        .isZero();
    assertThat(javax.imageio.ImageIO.read(big.toFile()).getHeight()).isEqualTo(2 * 56 + 3 * 2);
  }

  @Test
  void anExportSamplesTheSameImagesAsItsRun() throws Exception {
    Path base = dir.resolve("models");
    org.tfdiffusion.export.ModelExporter.export(
        conditionalRun,
        "tiny",
        base,
        org.tfdiffusion.run.TrainedModel.Weights.EMA,
        org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.of(4),
        org.tfdiffusion.sampling.SamplerKind.DPMPP,
        org.tfdiffusion.sampling.DpmSolverPlusPlusSampler::of,
        () -> {});
    Path fromRun = dir.resolve("from-run");
    Path fromExport = dir.resolve("from-export");
    String[] common = {
      "--steps", "3", "-n", "2", "--class", "Bag", "--sampler", "ddim", "--x0-guard", "dynamic"
    };
    List<String> a = new ArrayList<>(List.of("sample", "--run", conditionalRun.toString()));
    a.addAll(List.of(common));
    a.addAll(List.of("--out", dir.resolve("r.png").toString(), "--out-dir", fromRun.toString()));
    assertThat(run(a.toArray(String[]::new))).as(err.toString()).isZero();
    List<String> b = new ArrayList<>(List.of("sample", "--model", base.resolve("tiny").toString()));
    b.addAll(List.of(common));
    b.addAll(List.of("--out", dir.resolve("e.png").toString(), "--out-dir", fromExport.toString()));
    assertThat(run(b.toArray(String[]::new))).as(err.toString()).isZero();
    assertThat(out.toString()).contains("export " + base.resolve("tiny").resolve("1"));
    for (String file : List.of("class-8-seed-0.png", "class-8-seed-1.png")) {
      assertThat(Files.readAllBytes(fromExport.resolve(file)))
          .as(file)
          .isEqualTo(Files.readAllBytes(fromRun.resolve(file)));
    }
  }

  @Test
  void badLabelsAreRefused() {
    assertThat(run("sample", "--run", conditionalRun.toString(), "--class", "shoes")).isEqualTo(2);
    assertThat(err.toString()).contains("unknown class 'shoes'; valid: T-shirt/top, Trouser");
    assertThat(run("sample", "--run", conditionalRun.toString(), "--class", "10")).isEqualTo(2);
    assertThat(err.toString()).contains("class 10 is out of range: this model has classes 0..9");
    assertThat(run("sample", "--run", run.toString(), "--class", "1")).isEqualTo(2);
    assertThat(err.toString()).contains("this model is unconditional");
  }

  @Test
  void badInputIsRefusedClearly() throws Exception {
    assertThat(run("sample", "--run", run.toString(), "--steps", "0")).isEqualTo(2);
    assertThat(err.toString()).contains("--steps 0 must be in [1, 1000]");
    assertThat(run("sample", "--run", run.toString(), "--steps", "1001")).isEqualTo(2);
    assertThat(run("sample", "--run", run.toString(), "--sampler", "lcm")).isEqualTo(2);
    assertThat(err.toString())
        .contains("unknown sampler 'lcm'; valid: ddpm, ddim, dpmpp, dpmpp-sde, dpm-solver, unipc,");
    assertThat(run("sample", "--run", run.toString(), "--sampler", "euler", "--order", "3"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("--order 3: euler has no solver order");
    assertThat(run("sample", "--run", run.toString(), "--sampler", "ddim", "--eta", "1.5"))
        .isEqualTo(2);
    assertThat(err.toString())
        .contains("--eta 1.5 is out of range: give a finite number in [0, 1]");
    assertThat(run("sample", "--run", dir.resolve("missing").toString())).isEqualTo(2);
    assertThat(err.toString()).contains("missing does not exist");
    // a checkpoint whose run config describes another model
    Path other = dir.resolve("other");
    Files.createDirectories(other.resolve("checkpoints"));
    String config =
        Files.readString(run.resolve("config.json"))
            .replace("\"baseWidth\" : 8", "\"baseWidth\" : 16");
    Files.writeString(other.resolve("config.json"), config);
    copyTree(run.resolve("checkpoints"), other.resolve("checkpoints"));
    assertThat(run("sample", "--run", other.toString())).isEqualTo(2);
    assertThat(err.toString()).contains("does not match its run's config.json");
  }

  private static void copyTree(Path from, Path to) throws Exception {
    try (var walk = Files.walk(from)) {
      for (Path p : walk.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target);
        }
      }
    }
  }

  @Test
  void withoutOutTheGridGoesIntoTheRunsSamplesFolder() {
    assertThat(
            run(
                "sample",
                "--run",
                run.toString(),
                "--sampler",
                "ddim",
                "--steps",
                "2",
                "--seed",
                "5",
                "-n",
                "1"))
        .as(err.toString())
        .isZero();
    Path grid = run.resolve("samples/sample-step3-ddim-2-seed5.png");
    assertThat(grid).isRegularFile();
    assertThat(out.toString()).contains("wrote " + grid);
  }
}
