package org.tfdiffusion.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class SampleCommandTest {
  @TempDir static Path dir;
  static Path run;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  /** A 3-step run of a tiny model on the embedded data. */
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
            "1");
    assertThat(status).isZero();
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
    assertThat(Files.readAllBytes(b)).isEqualTo(Files.readAllBytes(a));
    assertThat(out.toString()).contains("sampled 3 images").contains("dpm-solver++(steps=4");
  }

  @Test
  void anImageDependsOnItsSeedNotOnTheBatch() throws Exception {
    Path many = dir.resolve("many");
    Path one = dir.resolve("one");
    assertThat(
            run(
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
                "10",
                "-n",
                "3",
                "--out",
                dir.resolve("m.png").toString(),
                "--out-dir",
                many.toString()))
        .as(err.toString())
        .isZero();
    assertThat(
            run(
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
                "12",
                "-n",
                "1",
                "--out",
                dir.resolve("o.png").toString(),
                "--out-dir",
                one.toString()))
        .isZero();
    assertThat(Files.readAllBytes(one.resolve("seed-12.png")))
        .isEqualTo(Files.readAllBytes(many.resolve("seed-12.png")));
    assertThat(Files.readAllBytes(many.resolve("seed-10.png")))
        .isNotEqualTo(Files.readAllBytes(many.resolve("seed-12.png")));
  }

  @Test
  void theHostLoopWritesTheSameFileAsTheCompiledLoop() throws Exception {
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
    assertThat(Files.readAllBytes(b)).isEqualTo(Files.readAllBytes(a));
  }

  @Test
  void badInputIsRefusedClearly() throws Exception {
    assertThat(run("sample", "--run", run.toString(), "--steps", "0")).isEqualTo(2);
    assertThat(err.toString()).contains("--steps 0 must be in [1, 1000]");
    assertThat(run("sample", "--run", run.toString(), "--steps", "1001")).isEqualTo(2);
    assertThat(run("sample", "--run", run.toString(), "--sampler", "euler")).isEqualTo(2);
    assertThat(err.toString()).contains("unknown sampler 'euler'; valid: ddpm, ddim, dpmpp");
    assertThat(run("sample", "--run", run.toString(), "--sampler", "ddim", "--eta", "1.5"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("--eta 1.5 must be in [0, 1]");
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
}
