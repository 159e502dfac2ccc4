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
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code sample}'s edits on a tiny run: image-to-image ({@code --init}, {@code --strength}),
 * inpainting ({@code --mask}, RePaint's resampling) and interpolation ({@code --interpolate}),
 * checked against what they must reproduce exactly (plain sampling, the kept pixels, the two seeds'
 * own images) and their refusals of bad input.
 */
class SampleEditTest {
  @TempDir static Path dir;
  static Path run;

  /** A 28×28 gray test image: a horizontal gradient with a bright square. */
  static Path init;

  /** Black (keep) right half, white (regenerate) left half. */
  static Path leftHalfMask;

  static final int SIZE = 28;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    out.getBuffer().setLength(0);
    err.getBuffer().setLength(0);
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  /** {@code sample} of the tiny run without XLA, with {@code args} after the run. */
  private int sample(String... args) {
    List<String> all = new ArrayList<>(List.of("sample", "--run", run.toString(), "--no-xla"));
    all.addAll(List.of(args));
    return run(all.toArray(String[]::new));
  }

  /** The one line on stderr of a refused command (exit status 2). */
  private String refusal(int status) {
    String text = err.toString();
    assertThat(status).as(text).isEqualTo(2);
    List<String> lines = text.lines().filter(l -> !l.isBlank()).toList();
    assertThat(lines).as(text).hasSize(1);
    assertThat(lines.get(0)).startsWith("error: ");
    return lines.get(0);
  }

  @BeforeAll
  static void trainAndDraw() throws Exception {
    run = dir.resolve("run");
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(new StringWriter()));
    int status =
        cli.execute(
            "train",
            "--preset",
            "demo",
            "--steps",
            "2",
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
    init = gray(dir.resolve("init.png"), SIZE, SIZE, (y, x) -> inSquare(y, x) ? 250 : x * 9);
    leftHalfMask = gray(dir.resolve("mask.png"), SIZE, SIZE, (y, x) -> x < SIZE / 2 ? 255 : 0);
  }

  private static boolean inSquare(int y, int x) {
    return y >= 8 && y < 20 && x >= 16 && x < 24;
  }

  interface Pixel {
    int at(int y, int x);
  }

  /** Writes an 8-bit grayscale PNG. */
  static Path gray(Path file, int h, int w, Pixel value) throws Exception {
    BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        image.getRaster().setSample(x, y, 0, value.at(y, x));
      }
    }
    ImageIO.write(image, "png", file.toFile());
    return file;
  }

  /** The 8-bit gray values of a PNG, [y][x]. */
  static int[][] pixels(Path file) throws Exception {
    BufferedImage image = ImageIO.read(file.toFile());
    int[][] out = new int[image.getHeight()][image.getWidth()];
    for (int y = 0; y < out.length; y++) {
      for (int x = 0; x < out[y].length; x++) {
        out[y][x] = image.getRaster().getSample(x, y, 0);
      }
    }
    return out;
  }

  /**
   * At strength 1 the init image is unused and the loop starts from the seed's noise, so DDPM (a
   * sampler that draws noise at every step too) gives plain sampling's images, seed for seed.
   */
  @Test
  void strengthOneIsPlainSamplingOfTheSameSeeds() throws Exception {
    Path plain = dir.resolve("plain-ddpm");
    Path edited = dir.resolve("strength-1");
    String[] common = {"--sampler", "ddpm", "--steps", "4", "--seed", "21", "-n", "2"};
    List<String> a = new ArrayList<>(List.of(common));
    a.addAll(List.of("--out", dir.resolve("p.png").toString(), "--out-dir", plain.toString()));
    assertThat(sample(a.toArray(String[]::new))).as(err.toString()).isZero();
    List<String> b = new ArrayList<>(List.of(common));
    b.addAll(List.of("--init", init.toString(), "--strength", "1"));
    b.addAll(List.of("--out", dir.resolve("s.png").toString(), "--out-dir", edited.toString()));
    assertThat(sample(b.toArray(String[]::new))).as(err.toString()).isZero();
    assertThat(out.toString())
        .contains("edit: image-to-image, strength 1.0 (4 of the 4 steps)")
        .contains("init image: " + init + ", 28×28 grayscale, used as it is");
    for (String file : List.of("seed-21.png", "seed-22.png")) {
      assertThat(Files.readAllBytes(edited.resolve(file)))
          .as(file)
          .isEqualTo(Files.readAllBytes(plain.resolve(file)));
    }
  }

  /**
   * An edit's image depends on its seed and its image only: the same seed alone or third in a batch
   * gives the same file, and another seed another image.
   */
  @Test
  void anEditDependsOnItsSeedNotOnTheBatch() throws Exception {
    Path many = dir.resolve("i2i-many");
    Path one = dir.resolve("i2i-one");
    String[] edit = {"--sampler", "ddpm", "--steps", "5", "--init", init.toString()};
    List<String> a = new ArrayList<>(List.of(edit));
    a.addAll(List.of("--strength", "0.6", "--seed", "10", "-n", "3"));
    a.addAll(List.of("--out", dir.resolve("m.png").toString(), "--out-dir", many.toString()));
    assertThat(sample(a.toArray(String[]::new))).as(err.toString()).isZero();
    assertThat(out.toString())
        .contains("edit: image-to-image, strength 0.6 (3 of the 5 steps)")
        .contains("sampled 3 images (image-to-image, strength 0.6)");
    List<String> b = new ArrayList<>(List.of(edit));
    b.addAll(List.of("--strength", "0.6", "--seed", "12", "-n", "1"));
    b.addAll(List.of("--out", dir.resolve("o.png").toString(), "--out-dir", one.toString()));
    assertThat(sample(b.toArray(String[]::new))).as(err.toString()).isZero();
    assertThat(Files.readAllBytes(one.resolve("seed-12.png")))
        .isEqualTo(Files.readAllBytes(many.resolve("seed-12.png")));
    assertThat(Files.readAllBytes(many.resolve("seed-10.png")))
        .isNotEqualTo(Files.readAllBytes(many.resolve("seed-12.png")));
  }

  /**
   * Inpainting keeps the pixels the mask keeps, exactly (after the last step the known region is
   * the image itself), and regenerates the others; so does RePaint's resampling, in both loops.
   */
  @Test
  void inpaintingKeepsTheBlackPixelsOfTheMask() throws Exception {
    int[][] given = pixels(init);
    for (List<String> extra :
        List.of(
            List.<String>of(),
            List.of("--jump-length", "2", "--resample-count", "2"),
            List.of("--jump-length", "2", "--resample-count", "2", "--loop", "host"))) {
      Path each = dir.resolve("inpaint-" + extra.size() + extra.contains("host"));
      List<String> args =
          new ArrayList<>(
              List.of(
                  "--sampler",
                  "ddim",
                  "--steps",
                  "5",
                  "--init",
                  init.toString(),
                  "--mask",
                  leftHalfMask.toString(),
                  "--seed",
                  "3",
                  "-n",
                  "2",
                  "--out",
                  dir.resolve("inpaint.png").toString(),
                  "--out-dir",
                  each.toString()));
      args.addAll(extra);
      assertThat(sample(args.toArray(String[]::new))).as(err.toString()).isZero();
      assertThat(out.toString()).contains("mask: " + leftHalfMask + ", 50% of the pixels");
      if (!extra.isEmpty()) {
        // RePaint's jumps back: 5 steps and 2 jumps of 2 steps run again, plus 1 at the end
        assertThat(out.toString()).contains("RePaint jump length 2 x 2").contains("loop steps");
      }
      for (String file : List.of("seed-3.png", "seed-4.png")) {
        int[][] result = pixels(each.resolve(file));
        int changed = 0;
        for (int y = 0; y < SIZE; y++) {
          for (int x = 0; x < SIZE; x++) {
            if (x >= SIZE / 2) {
              assertThat(result[y][x])
                  .as("%s %s kept (%s, %s)", extra, file, y, x)
                  .isEqualTo(given[y][x]);
            } else if (result[y][x] != given[y][x]) {
              changed++;
            }
          }
        }
        assertThat(changed).as("%s %s regenerated pixels", extra, file).isGreaterThan(SIZE * 7);
      }
    }
  }

  /**
   * An interpolation's first and last frames are the two seeds' own images under the same
   * deterministic sampler; the frames between are neither; the GIF shows the frames forth and back.
   */
  @Test
  void anInterpolationRunsFromOneSeedsImageToTheOthers() throws Exception {
    Path plain = dir.resolve("plain-ddim");
    assertThat(
            sample(
                "--sampler",
                "ddim",
                "--steps",
                "4",
                "--seed",
                "30",
                "-n",
                "2",
                "--out",
                dir.resolve("pd.png").toString(),
                "--out-dir",
                plain.toString()))
        .as(err.toString())
        .isZero();
    Path frames = dir.resolve("frames");
    Path gif = dir.resolve("strip.gif");
    assertThat(
            sample(
                "--sampler",
                "ddim",
                "--steps",
                "4",
                "--interpolate",
                "30,31",
                "--frames",
                "4",
                "--scale",
                "1",
                "--out",
                gif.toString(),
                "--out-dir",
                frames.toString()))
        .as(err.toString())
        .isZero();
    assertThat(out.toString())
        .contains("sampled 4 frames between seeds 30 and 31")
        .contains("wrote " + gif)
        .contains("wrote " + dir.resolve("strip.png"));
    assertThat(pixels(frames.resolve("frame-00.png")))
        .isDeepEqualTo(pixels(plain.resolve("seed-30.png")));
    assertThat(pixels(frames.resolve("frame-03.png")))
        .isDeepEqualTo(pixels(plain.resolve("seed-31.png")));
    int[][] between = pixels(frames.resolve("frame-01.png"));
    assertThat(java.util.Arrays.deepEquals(between, pixels(plain.resolve("seed-30.png"))))
        .isFalse();
    assertThat(java.util.Arrays.deepEquals(between, pixels(plain.resolve("seed-31.png"))))
        .isFalse();
    // the strip: one row of 4 frames with 2-pixel borders
    BufferedImage strip = ImageIO.read(dir.resolve("strip.png").toFile());
    assertThat(strip.getWidth()).isEqualTo(4 * SIZE + 5 * 2);
    assertThat(strip.getHeight()).isEqualTo(SIZE + 2 * 2);
    try (ImageInputStream in = ImageIO.createImageInputStream(gif.toFile())) {
      ImageReader reader = ImageIO.getImageReadersByFormatName("gif").next();
      reader.setInput(in);
      assertThat(reader.getNumImages(true)).as("frames 0 1 2 3 2 1").isEqualTo(6);
      reader.dispose();
    }
  }

  /** An init image of another size is refused with the fix named, or brought to size by --fit. */
  @Test
  void anImageOfAnotherSizeNeedsFit() throws Exception {
    Path wide = gray(dir.resolve("wide.png"), 30, 40, (y, x) -> x * 6);
    Path wideMask = gray(dir.resolve("wide-mask.png"), 30, 40, (y, x) -> x < 20 ? 255 : 0);
    String line = refusal(sample("--init", wide.toString(), "--out", dir.resolve("w.png") + ""));
    assertThat(line)
        .contains("the init image " + wide + " is 30×40 grayscale but the model makes 28×28 images")
        .contains("--fit center-crop");
    assertThat(
            sample(
                "--init",
                wide.toString(),
                "--mask",
                wideMask.toString(),
                "--fit",
                "resize",
                "--steps",
                "3",
                "-n",
                "1",
                "--out",
                dir.resolve("fitted.png").toString()))
        .as(err.toString())
        .isZero();
    assertThat(out.toString()).contains("init image: " + wide + ", 30×40 grayscale, resized");
    line =
        refusal(
            sample(
                "--init", init.toString(), "--mask", wideMask.toString(), "--out", dir + "/x.png"));
    assertThat(line)
        .contains("the mask " + wideMask + " is 30×40 but the init image " + init + " is 28×28");
  }

  @Test
  void badEditOptionsAreRefusedInOneLine() throws Exception {
    String png = dir.resolve("never.png").toString();
    for (String s : List.of("0", "-0.5", "1.01", "NaN")) {
      assertThat(refusal(sample("--init", init.toString(), "--strength", s, "--out", png)))
          .contains("--strength")
          .contains("is out of range: give a finite number in (0, 1]");
    }
    // 5 steps at strength 0.1 run 0 of them
    assertThat(
            refusal(
                sample(
                    "--init", init.toString(), "--strength", "0.1", "--steps", "5", "--out", png)))
        .contains("runs no step")
        .contains("raise the strength to at least 0.2");
    Path colours = dir.resolve("colours.png");
    BufferedImage rgb = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
    rgb.setRGB(3, 4, 0xff0000);
    ImageIO.write(rgb, "png", colours.toFile());
    assertThat(
            refusal(sample("--init", init.toString(), "--mask", colours.toString(), "--out", png)))
        .contains("the mask " + colours + " has colours: give a grayscale PNG");
    assertThat(refusal(sample("--mask", leftHalfMask.toString(), "--out", png)))
        .contains("--mask needs the image to inpaint: give it with --init IMAGE");
    assertThat(refusal(sample("--init", dir.resolve("missing.png").toString(), "--out", png)))
        .contains("the init image " + dir.resolve("missing.png") + " does not exist");
    Path text = Files.writeString(dir.resolve("notes.png"), "not an image");
    assertThat(refusal(sample("--init", text.toString(), "--out", png)))
        .contains("the init image " + text + " is no image");
    assertThat(refusal(sample("--interpolate", "3", "--out", png)))
        .contains("--interpolate takes two seeds, SEED_A,SEED_B");
    assertThat(refusal(sample("--interpolate", "3,4", "--frames", "1", "--out", png)))
        .contains("--frames 1 is out of range: give 2 to");
    assertThat(refusal(sample("--interpolate", "3,4", "--sampler", "ddpm", "--out", png)))
        .contains("interpolation needs a deterministic sampler");
    assertThat(
            refusal(
                sample(
                    "--init",
                    init.toString(),
                    "--mask",
                    leftHalfMask.toString(),
                    "--jump-length",
                    "9",
                    "--resample-count",
                    "2",
                    "--steps",
                    "5",
                    "--out",
                    png)))
        .contains("jump length (9) must be below the steps that run (5)");
    assertThat(Path.of(png)).doesNotExist();
  }

  @Test
  void theServersInterpolationStripIsSampleInterpolatesFrames() throws Exception {
    Path base = dir.resolve("models");
    assertThat(
            run(
                "export",
                "--run",
                run.toString(),
                "--base",
                base.toString(),
                "--name",
                "tiny",
                "--steps",
                "4"))
        .as(err.toString())
        .isZero();
    Path frames = dir.resolve("served-frames");
    assertThat(
            run(
                "sample",
                "--model",
                base.resolve("tiny").toString(),
                "--no-xla",
                "--steps",
                "4",
                "--interpolate",
                "5,9",
                "--frames",
                "3",
                "--out",
                dir.resolve("served-strip.png").toString(),
                "--out-dir",
                frames.toString()))
        .as(err.toString())
        .isZero();
    try (org.tfdiffusion.export.serving.RestServer server =
        org.tfdiffusion.export.serving.RestServer.start(
            base,
            org.tfdiffusion.export.serving.RestServer.Options.defaults()
                .withPort(0)
                .withPoll(java.time.Duration.ZERO),
            org.tfdiffusion.export.serving.ServerLog.quiet())) {
      java.net.http.HttpResponse<String> r =
          java.net.http.HttpClient.newHttpClient()
              .send(
                  java.net.http.HttpRequest.newBuilder(
                          server.url().resolve("/v1/models/tiny:interpolate"))
                      .POST(
                          java.net.http.HttpRequest.BodyPublishers.ofString(
                              "{\"seed_a\": 5, \"seed_b\": 9, \"frames\": 3, \"num_steps\": 4}"))
                      .build(),
                  java.net.http.HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      var pngs =
          new com.fasterxml.jackson.databind.ObjectMapper()
              .readTree(r.body())
              .path("outputs")
              .path("images_png_bytes");
      assertThat(pngs).hasSize(3);
      for (int f = 0; f < 3; f++) {
        Path served = dir.resolve("served-" + f + ".png");
        Files.write(served, java.util.Base64.getDecoder().decode(pngs.get(f).path("b64").asText()));
        assertThat(pixels(served))
            .as("frame %d", f)
            .isDeepEqualTo(pixels(frames.resolve(String.format("frame-%02d.png", f))));
      }
    }
  }
}
