package org.tfdiffusion.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.train.TrainPreset;

/**
 * The README's Java example, compiled and run here: the README's code block is {@link #IMPORTS}
 * followed by the code between the markers below, line for line.
 */
class ReadmeExampleTest {
  private static final Path SOURCE =
      Path.of("src/test/java/org/tfdiffusion/api/ReadmeExampleTest.java");
  private static final Path README = Path.of("../README.md");

  /**
   * The imports the README's example starts with. This test imports each of them too (the API's own
   * classes are its package's), so a class that moves or is renamed breaks it.
   */
  private static final List<String> IMPORTS =
      List.of(
          "java.nio.file.Path",
          "java.util.List",
          "org.tfdiffusion.api.*",
          "org.tfdiffusion.run.TrainConfig",
          "org.tfdiffusion.train.TrainPreset");

  @Test
  void theReadmeExampleTrainsSamplesAndWritesPngs(@TempDir Path dir) throws Exception {
    // README example begins
    TrainConfig demo = TrainPreset.DEMO.config();
    TrainConfig config =
        demo.withTraining(demo.training().toBuilder().steps(20).sampleEvery(20).build());
    Path run = Training.train(dir.resolve("my-run"), config);
    try (Generator generator = Generator.open(run)) {
      List<GeneratedImage> bags =
          generator.generate(Request.of(0, 1, 2, 3).withClass("Bag").withGuidance(2));
      for (GeneratedImage image : bags) {
        image.writePng(dir.resolve("bag-" + image.seed() + ".png"), 2);
      }
    }
    // README example ends

    for (long seed = 0; seed < 4; seed++) {
      BufferedImage png = ImageIO.read(dir.resolve("bag-" + seed + ".png").toFile());
      assertThat(png.getWidth()).isEqualTo(56);
      assertThat(png.getHeight()).isEqualTo(56);
    }
    try (Generator generator = Generator.open(run)) {
      List<GeneratedImage> again =
          generator.generate(Request.of(2, 0).withClass("8").withGuidance(2));
      assertThat(again.get(0).className()).contains("Bag");
      byte[] first = Files.readAllBytes(dir.resolve("bag-0.png"));
      // the same seed gives the same image in another batch (the file is the 2x upscale)
      BufferedImage upscaled = ImageIO.read(new ByteArrayInputStream(first));
      BufferedImage plain = ImageIO.read(new ByteArrayInputStream(again.get(1).png()));
      for (int y = 0; y < 28; y++) {
        for (int x = 0; x < 28; x++) {
          assertThat(upscaled.getRaster().getSample(2 * x + 1, 2 * y + 1, 0))
              .isEqualTo(plain.getRaster().getSample(x, y, 0));
        }
      }
      assertThatThrownBy(() -> generator.generate(Request.of(0)))
          .hasMessageContaining("name a class, one of T-shirt/top");
      assertThatThrownBy(() -> generator.generate(Request.of(0).withClass("Hat")))
          .hasMessageContaining("unknown class 'Hat'");
    }
  }

  @Test
  void theReadmeShowsThisExample() throws Exception {
    String source = Files.readString(SOURCE);
    String begin = "    // README example begins\n";
    String end = "    // README example ends\n";
    String code =
        source
            .substring(source.indexOf(begin) + begin.length(), source.indexOf(end))
            .replaceAll("(?m)^    ", "")
            .replace("dir.resolve(\"my-run\")", "Path.of(\"runs/my-run\")")
            .replace(
                "dir.resolve(\"bag-\" + image.seed() + \".png\")",
                "Path.of(\"bag-\" + image.seed() + \".png\")");
    StringBuilder imports = new StringBuilder();
    for (String name : IMPORTS) {
      imports.append("import ").append(name).append(";\n");
      if (name.equals(ReadmeExampleTest.class.getPackageName() + ".*")) {
        continue;
      }
      assertThat(source).contains("import " + name + ";\n");
    }
    assertThat(Files.readString(README)).contains("```java\n" + imports + "\n" + code + "```\n");
  }

  @Test
  void badPathsAndRequestsAreRefusedClearly() {
    assertThatThrownBy(() -> Generator.open(Path.of("no/such/run")))
        .hasMessageContaining("no/such/run does not exist");
    assertThatThrownBy(() -> Request.of()).hasMessageContaining("at least one seed");
    assertThatThrownBy(() -> Request.of(1).withGuidance(-1))
        .hasMessageContaining("guidance must be >= 0");
  }
}
