package org.tfdiffusion.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.cli.bench.BenchCommand;
import picocli.CommandLine;

class CliTest {
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  @Test
  void helpListsTheCommands() {
    assertThat(run("--help")).isZero();
    assertThat(out.toString()).contains("demo", "forward", "summary", "bench", "train");
  }

  @Test
  void everyCommandHasHelp() {
    for (String command :
        new String[] {"demo", "forward", "summary", "bench", "bench-cluster", "train"}) {
      out.getBuffer().setLength(0);
      assertThat(run(command, "--help")).as(command).isZero();
      assertThat(out.toString()).as(command).contains("Usage: tfdiffusion " + command);
    }
  }

  @Test
  void clusterOptionsAreExplainedAndCheckedBeforeAnythingStarts() {
    assertThat(run("train", "--help")).isZero();
    assertThat(out.toString())
        .contains("--cluster=SPEC", "--task", "--connect-timeout", "TF_CONFIG");
    assertThat(run("bench-cluster", "--tasks", "3", "--batch", "32")).isEqualTo(2);
    assertThat(err.toString()).contains("--batch 32 must divide by it");
  }

  @Test
  void benchMeasuresEachConfigInItsOwnJvmOnce() {
    // the child gets the user's options less their --configs, else it measured them all
    assertThat(
            BenchCommand.childArgs(
                List.of("--configs", "tutorial,small", "--steps", "2", "--configs=small"), "small"))
        .containsExactly("--steps", "2", "--in-process", "--configs", "small");
    assertThat(run("bench", "--in-process", "--configs", "tutorial,small")).isEqualTo(2);
    assertThat(err.toString()).contains("--in-process measures one config");
  }

  @Test
  void thePeerRunsWithoutTheLaunchersMallocSettings() {
    java.util.Map<String, String> env =
        new java.util.HashMap<>(
            java.util.Map.of(
                "GLIBC_TUNABLES", "glibc.malloc.arena_max=1",
                "OPENBLAS_CORETYPE", "Haswell",
                "OPENBLAS_L2_SIZE", "1",
                "PATH", "/usr/bin"));
    BenchCommand.peerEnvironment(env);
    assertThat(env).containsOnlyKeys("PATH");
  }

  @Test
  void benchKernelsPrintsAndWritesTheKernelTable(@TempDir Path dir) throws Exception {
    Path json = dir.resolve("kernels.json");
    assertThat(run("bench", "--kernels", "--steps", "1", "--json", json.toString())).isZero();
    assertThat(out.toString())
        .contains("Kernels (float32)")
        .contains("| conv2d float32 | 16x32x32x64 -> 64 |")
        .contains("| matmul float32 (same FLOPs) | 32x8x8x1024 -> 1024 |");
    assertThat(Files.readString(json)).contains("\"gflopPerSecond\"").contains("conv2d bfloat16");
  }

  @Test
  void summaryPrintsTheTutorialModel() {
    assertThat(run("summary")).isZero();
    assertThat(out.toString()).contains("81,047,811").contains("16.9269").contains("down_2");
  }

  @Test
  void forwardRunsAForwardPassOnASmallModel() {
    int status =
        run(
            "forward",
            "--preset",
            "small",
            "--image-size",
            "8",
            "--base-width",
            "16",
            "--levels",
            "2",
            "--batch",
            "2");
    assertThat(status).as(err.toString()).isZero();
    assertThat(out.toString())
        .contains("forward pass: x_0 [2, 8, 8, 1]")
        .contains("eps_theta [2, 8, 8, 1]")
        .contains("MSE vs the true noise");
  }

  @Test
  void demoTrainsBrieflyAndSaysWhereEverythingIs(
      @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
    java.nio.file.Path run = dir.resolve("demo");
    java.nio.file.Path base = dir.resolve("models");
    int status =
        run(
            "demo",
            "--steps",
            "3",
            "--run-dir",
            run.toString(),
            "--base",
            base.toString(),
            "--quiet");
    assertThat(status).as(err.toString()).isZero();
    assertThat(out.toString())
        .contains("done: step 3")
        .contains("samples:")
        .contains(run.toString());
    assertThat(run.resolve("samples/step-000003.png")).exists();
    assertThat(run.resolve("checkpoints/ckpt-000003/state.json")).exists();
    assertThat(base.resolve("demo/1/saved_model.pb")).exists();
    assertThat(base.resolve("demo/1/assets.extra/tfdiffusion.json")).exists();
    assertThat(out.toString())
        .contains("exported:", "web page:", "serve --base " + base)
        .contains(
            "  exported:     "
                + base.resolve("demo/1")
                + " (version 1, DPM-Solver++ 20 steps, EMA weights)");
  }

  @Test
  void trainRefusesBadOptionsBeforeTraining() {
    assertThat(run("train", "--batch-size", "30", "--accumulation", "4")).isEqualTo(2);
    assertThat(err.toString()).contains("--batch-size 30 is not divisible by --accumulation 4");
  }

  @Test
  void badModelOptionsFailWithTheFix() {
    assertThat(run("summary", "--image-size", "30")).isEqualTo(2);
    assertThat(err.toString()).contains("image size 30").contains("use 24 or 32");
  }

  @Test
  void unknownPresetIsRefused() {
    assertThat(run("summary", "--preset", "huge")).isNotZero();
    assertThat(err.toString()).contains("unknown preset 'huge'").contains("tutorial, small");
  }
}
