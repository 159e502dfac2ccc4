package org.tfdiffusion.cli.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.cli.CommandLineErrors;
import org.tfdiffusion.data.ImageDataset;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.train.Trainer;
import org.tfdiffusion.train.TrainingMetrics;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * {@code train --resume} and {@code --restart} through the command line: what a resume takes from
 * the run and what from the command line, runs that stopped before their first checkpoint, damaged
 * checkpoints and metrics. Every refusal is one line and leaves the run's files as they were.
 */
class ResumeTest {
  @TempDir Path temp;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  /** The options of a tiny run on the embedded data (a step takes a fraction of a second). */
  private static final List<String> TINY =
      List.of(
          "--base-width",
          "8",
          "--levels",
          "2",
          "--batch-size",
          "4",
          "--no-xla",
          "--progress",
          "quiet",
          "--log-every",
          "1",
          "--sample-every",
          "0",
          "--sample-count",
          "1",
          "--sampler-steps",
          "2");

  /** {@code train} with the tiny options, {@code --run-dir run} and {@code args}. */
  private int train(Path run, String... args) {
    List<String> all = new ArrayList<>(TINY);
    all.addAll(Arrays.asList(args));
    return command(run, all);
  }

  /** {@code train --resume --run-dir run} with only {@code args} (none of the tiny options). */
  private int resume(Path run, String... args) {
    List<String> all = new ArrayList<>(List.of("--resume", "--progress", "quiet"));
    all.addAll(Arrays.asList(args));
    return command(run, all);
  }

  private int command(Path run, List<String> args) {
    out.getBuffer().setLength(0);
    err.getBuffer().setLength(0);
    CommandLine cli = TrainCommand.commandLine(new TrainCommand());
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    List<String> all = new ArrayList<>(args);
    all.addAll(List.of("--run-dir", run.toString()));
    return cli.execute(all.toArray(String[]::new));
  }

  private String error(int status) {
    assertThat(status).as(out + "\n" + err).isEqualTo(CommandLineErrors.USER_ERROR);
    List<String> lines = err.toString().lines().toList();
    assertThat(lines).as(err.toString()).hasSize(1);
    assertThat(err.toString()).doesNotContain("\tat ");
    return lines.get(0);
  }

  private void ok(int status) {
    assertThat(status).as(out + "\n" + err).isZero();
  }

  /** The config the tiny options make, completed from the data (as train would write it). */
  private static TrainConfig tinyConfig(String... more) {
    TrainCommand command = new TrainCommand();
    List<String> args = new ArrayList<>(TINY);
    args.addAll(Arrays.asList(more));
    TrainCommand.commandLine(command).parseArgs(args.toArray(String[]::new));
    TrainConfig config = command.config();
    return Trainer.withClasses(config, Trainer.loadData(config));
  }

  /** A run folder as a kill before the first checkpoint leaves it. */
  private Path killedBeforeItsFirstCheckpoint(String name, String... options) throws Exception {
    Path run = temp.resolve(name);
    RunDirectory.create(run, tinyConfig(options));
    Files.writeString(
        run.resolve("metrics.csv"), TrainingMetrics.HEADER + "\n1,0,1.2,1e-4,1,9,0.5\n");
    Files.createDirectories(run.resolve("checkpoints/.tmp-ckpt-2-123/model"));
    return run;
  }

  /**
   * A run whose latest checkpoint is at step 20 (its state only: a resume that gets past the checks
   * fails at the restore, after which config.json must still be as it was).
   */
  private Path runAtStep20(String... options) throws Exception {
    Path run = temp.resolve("at-20");
    TrainConfig config = tinyConfig(options);
    RunDirectory created = RunDirectory.create(run, config);
    ImageDataset data = Trainer.loadData(config);
    Checkpoints.State state =
        new Checkpoints.State(20, 0, 80, 0, 0.5, data.size(), data.description());
    Path ckpt = Files.createDirectories(created.checkpoints().dir().resolve("ckpt-000020"));
    RunDirectory.json().writeValue(ckpt.resolve(Checkpoints.STATE).toFile(), state);
    return run;
  }

  @Test
  void aRunKilledBeforeItsFirstCheckpointNamesTheWayOnAndCanBeResumedOrRestarted()
      throws Exception {
    Path run = killedBeforeItsFirstCheckpoint("killed", "--steps", "2");
    assertThat(error(train(run, "--steps", "2")))
        .contains("stopped before its first checkpoint", "--restart", "--resume");

    ok(train(run, "--steps", "2", "--resume"));
    assertThat(out.toString()).contains("has no checkpoint yet", "training it from step 0");
    assertThat(Checkpoints.of(run).latest().orElseThrow().state().step()).isEqualTo(2);
    assertThat(TrainingMetrics.read(run.resolve("metrics.csv")))
        .extracting(TrainingMetrics.Row::step)
        .containsExactly(1L, 2L);

    Path other = killedBeforeItsFirstCheckpoint("killed-again", "--steps", "2");
    ok(train(other, "--steps", "1", "--lr", "5e-4", "--restart"));
    assertThat(RunDirectory.open(other).config().optimizer().learningRate()).isEqualTo(5e-4);
    assertThat(Checkpoints.of(other).latest().orElseThrow().state().step()).isEqualTo(1);
    assertThat(TrainingMetrics.read(other.resolve("metrics.csv")))
        .extracting(TrainingMetrics.Row::step)
        .containsExactly(1L);
    // a run with checkpoints is never started over
    String config = Files.readString(other.resolve(RunDirectory.CONFIG));
    assertThat(error(train(other, "--steps", "3", "--restart")))
        .contains("has checkpoints (latest: step 1)", "--resume");
    assertThat(Files.readString(other.resolve(RunDirectory.CONFIG))).isEqualTo(config);
    assertThat(error(train(other, "--restart", "--resume"))).contains("exclude each other");
  }

  @Test
  void aResumeRefusesRunSettingsThatDifferFromTheRunsAndNeverRewritesItsConfig() throws Exception {
    Path run = runAtStep20("--steps", "30", "--cosine", "--warmup", "0");
    byte[] config = Files.readAllBytes(run.resolve(RunDirectory.CONFIG));

    assertThat(error(resume(run, "--steps", "5")))
        .contains(
            "--steps 5 is below step 20 of the run's latest checkpoint", "--steps 20 or more");
    assertThat(error(resume(run, "--batch-size", "16")))
        .contains("--resume continues", "--batch-size 16 (the run's: 4)", "leave it out");
    double lr = RunDirectory.open(run).config().optimizer().learningRate();
    assertThat(error(resume(run, "--lr", "0.5", "--data", temp.toString(), "--image-size", "32")))
        .contains(
            "--lr 0.5 (the run's: " + lr + ")", "--data " + temp, "--image-size 32", "them out");
    assertThat(error(resume(run, "--loss-weighting", "min-snr-3", "--prediction", "eps")))
        .contains(
            "--loss-weighting min-snr-3 (the run's: min-snr-5)",
            "--prediction eps (the run's: V_PREDICTION)");
    assertThat(Files.readAllBytes(run.resolve(RunDirectory.CONFIG))).isEqualTo(config);
    // the run's choices under another of their names are the same values
    assertThat(
            error(
                resume(
                    run,
                    "--loss-weighting",
                    "min-snr",
                    "--prediction",
                    "v",
                    "--schedule",
                    "squaredcos_cap_v2",
                    "--split",
                    "TRAIN",
                    "--fit",
                    "auto")))
        .doesNotContain("differ")
        .contains("can be restored");

    // the same values are no conflict: the command that started a run resumes it
    assertThat(error(train(run, "--resume", "--steps", "30", "--cosine")))
        .doesNotContain("differ")
        .contains("no checkpoint of " + run + " can be restored");
    // a new total is taken, with a warning that it re-plans the cosine decay
    assertThat(error(resume(run, "--steps", "40"))).contains("can be restored");
    assertThat(out.toString())
        .contains("from the command line: --steps 40 (the run's: 30)")
        .contains("re-plans the cosine learning-rate decay to end at step 40")
        .contains("from step 21 on");
    assertThat(Files.readAllBytes(run.resolve(RunDirectory.CONFIG)))
        .as("a resume that fails changes nothing")
        .isEqualTo(config);

    // a run whose every checkpoint is damaged is neither restarted from 0 nor started over
    Path state = run.resolve("checkpoints/ckpt-000020/" + Checkpoints.STATE);
    Files.writeString(state, "{\"step\": 20,");
    assertThat(error(resume(run))).contains("every checkpoint of " + run + " is damaged");
    assertThat(error(train(run, "--steps", "30"))).contains("its checkpoints are damaged");
    assertThat(error(train(run, "--steps", "30", "--restart")))
        .contains("has checkpoints (damaged");
    assertThat(Files.readAllBytes(run.resolve(RunDirectory.CONFIG))).isEqualTo(config);
    assertThat(state).exists();
  }

  @Test
  void everyOptionOfTrainAndFinetuneHasItsPlaceInAResume() {
    for (Object command : new Object[] {new TrainCommand(), new FineTuneCommand()}) {
      for (OptionSpec option : TrainCommand.commandLine(command).getCommandSpec().options()) {
        assertThat(Arrays.stream(option.names()).anyMatch(ResumeSettings.known()::contains))
            .as("%s of %s", option.longestName(), command.getClass().getSimpleName())
            .isTrue();
      }
    }
  }

  /**
   * A damaged latest checkpoint (its variables or its state.json) and a damaged metrics.csv: the
   * resume continues from the newest intact checkpoint and says so.
   */
  @Test
  void aDamagedLatestCheckpointFallsBackToTheNewestIntactOne() throws Exception {
    Path run = temp.resolve("damaged");
    ok(train(run, "--steps", "4", "--checkpoint-every", "2", "--keep-checkpoints", "5"));
    Path four = run.resolve("checkpoints/ckpt-000004");
    Path data;
    try (var files = Files.list(four)) {
      data =
          files
              .filter(f -> f.getFileName().toString().startsWith("model.data"))
              .findFirst()
              .orElseThrow();
    }
    byte[] bytes = Files.readAllBytes(data);
    for (int i = 0; i < bytes.length; i += 64) { // every tensor of more than 16 floats
      bytes[i] ^= (byte) 0x5A;
    }
    Files.write(data, bytes);
    // sampling or exporting it names the damage and the way on, not a config mismatch
    assertThatThrownBy(
            () ->
                TrainedModel.load(
                    run, TrainedModel.Weights.EMA, SessionOptions.defaults(), m -> {}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("checkpoint " + four + " is damaged")
        .hasMessageContaining("Checksum does not match")
        .hasMessageContaining("--checkpoint " + run.resolve("checkpoints/ckpt-000002"));
    Files.writeString(
        run.resolve("metrics.csv"),
        "3,0,1.1,1e-4,1,9,1.0\n4,0,1.0,1e-4",
        java.nio.file.StandardOpenOption.APPEND);

    ok(
        train(
            run, "--steps", "6", "--checkpoint-every", "2", "--keep-checkpoints", "5", "--resume"));
    assertThat(out.toString())
        .contains("from the command line: --steps 6 (the run's: 4)")
        .contains("checkpoint " + four + " cannot be restored")
        .contains(
            "resuming from the newest intact checkpoint: " + run.resolve("checkpoints/ckpt-000002"))
        .contains("dropped 1 malformed line");
    assertThat(Checkpoints.of(run).latest().orElseThrow().state().step()).isEqualTo(6);
    assertThat(TrainingMetrics.read(run.resolve("metrics.csv")))
        .extracting(TrainingMetrics.Row::step)
        .containsExactly(1L, 2L, 3L, 4L, 5L, 6L);

    Files.writeString(run.resolve("checkpoints/ckpt-000006/state.json"), "{\"step\": 6, ");
    ok(
        train(
            run, "--steps", "7", "--checkpoint-every", "2", "--keep-checkpoints", "5", "--resume"));
    assertThat(out.toString())
        .contains(run.resolve("checkpoints/ckpt-000006") + " is damaged")
        .contains("from checkpoint " + run.resolve("checkpoints/ckpt-000004") + " (step 4)");
    assertThat(Checkpoints.of(run).latest().orElseThrow().state().step()).isEqualTo(7);
  }
}
